"""The PII exposure rule also looks at who reads a dataset: describe it, and show the `forbidden_roles` knob."""

from django.db import migrations

DESCRIPTION = (
    "Datasets inheriting PII lie in the namespace of its source or in a namespace cleared for PII "
    "(allowed_namespaces); nobody reads them who may not read the source's namespace (a namespace grant or a read "
    "token's namespaces); no role in forbidden_roles reads a dataset holding PII."
)


def describe(apps, schema_editor):
    Rule = apps.get_model("compliance", "ComplianceRule")
    for rule in Rule.objects.filter(id="pii-exposure"):
        rule.description = DESCRIPTION
        rule.parameters = {"forbidden_roles": [], **rule.parameters}
        rule.save(update_fields=["description", "parameters"])


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_report_permissions")]

    operations = [migrations.RunPython(describe, migrations.RunPython.noop)]
