from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    """Stored runs are claimed by their job's namespace; quarantined events of a limited token still present
    get its namespaces (one whose token is gone keeps null: replayed unlimited, as before)."""
    Run = apps.get_model("lineage", "Run")
    Namespace = apps.get_model("lineage", "Namespace")
    for name in Namespace.objects.values_list("name", flat=True):
        Run.objects.filter(job__namespace__name=name).update(job_namespaces=[name])
    QuarantinedEvent = apps.get_model("lineage", "QuarantinedEvent")
    ApiToken = apps.get_model("governance", "ApiToken")
    limited = ApiToken.objects.exclude(namespaces=[]).exclude(namespaces__isnull=True)
    QuarantinedEvent.objects.filter(token__in=limited).update(
        namespaces_allowed=Subquery(ApiToken.objects.filter(pk=OuterRef("token_id")).values("namespaces")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_api_tokens"),
        ("lineage", "0005_raw_event_namespaces_allowed"),
    ]

    operations = [
        migrations.AddField(
            model_name="quarantinedevent",
            name="namespaces_allowed",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="run",
            name="job_namespaces",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
