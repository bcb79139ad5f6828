from django import forms


class ListField(forms.CharField):
    """A comma-separated list of short labels ("pii, gdpr"), cleaned to unique, non-empty strings."""

    def __init__(self, *, item_max_length: int = 100, **kwargs):
        self.item_max_length = item_max_length
        super().__init__(required=False, **kwargs)

    def clean(self, value):
        text = super().clean(value) or ""
        items = []
        for item in (part.strip() for part in text.split(",")):
            if not item or item in items:
                continue
            if len(item) > self.item_max_length:
                raise forms.ValidationError(f"“{item[:20]}…” is longer than {self.item_max_length} characters.")
            items.append(item)
        return items


class MetadataForm(forms.Form):
    """A steward's edit from a page: the same fields as PATCH /api/v1/metadata, lists typed as text."""

    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = ListField()
    owners = ListField(item_max_length=255)
    classifications = ListField()
    # One field's classifications (the schema table's editor): `field` names it, `field_classifications` sets them.
    field = forms.CharField(required=False, max_length=1024)
    field_classifications = ListField()

    EDITABLE = ("description", "tags", "owners", "classifications")

    def changes(self, submitted, *, fields: dict) -> dict:
        """Only what the form sent: an inline editor that shows one list must not blank the others. `fields` is the
        annotation's current per-field notes, which a field's edit keeps for every other field."""
        changes = {key: self.cleaned_data[key] for key in self.EDITABLE if key in submitted}
        if "owners" in changes:
            changes["owners"] = [{"name": name} for name in changes["owners"]]
        name = self.cleaned_data["field"]
        if name and "field_classifications" in submitted:
            notes = {key: dict(value) for key, value in fields.items()}
            notes[name] = {**notes.get(name, {}), "classifications": self.cleaned_data["field_classifications"]}
            changes["fields"] = notes
        return changes
