from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def from_tokens(apps, schema_editor):
    """Events already stored by a namespace-limited token get that token's namespaces, so that the next
    `lineage_rebuild` applies the rule to them too (an event whose token is gone keeps null: applied whole)."""
    RawEvent = apps.get_model("lineage", "RawEvent")
    ApiToken = apps.get_model("governance", "ApiToken")
    limited = ApiToken.objects.exclude(namespaces=[]).exclude(namespaces__isnull=True)
    RawEvent.objects.filter(token__in=limited).update(
        namespaces_allowed=Subquery(ApiToken.objects.filter(pk=OuterRef("token_id")).values("namespaces")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_api_tokens"),
        ("lineage", "0004_index_jobs_by_update_time"),
    ]

    operations = [
        migrations.AddField(
            model_name="rawevent",
            name="namespaces_allowed",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(from_tokens, migrations.RunPython.noop, elidable=True),
    ]
