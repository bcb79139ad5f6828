from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from governance.admin_base import ReadOnlyAdmin
from lineage.ingest import services
from lineage.models import Annotation, Dataset, Job, QuarantinedEvent, RawEvent, Run
from lineage.read.pages import node_url


@admin.register(RawEvent)
class RawEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "kind",
        "job_namespace",
        "job_name",
        "event_time",
        "received_at",
        "source",
    ]
    list_filter = ["kind", "event_type", "source"]
    search_fields = ["job_name", "job_namespace", "run_id", "event_hash"]
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in RawEvent._meta.fields]


@admin.register(QuarantinedEvent)
class QuarantinedEventAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "source", "status", "reason"]
    list_filter = ["status", "source"]
    readonly_fields = [
        "body",
        "errors_list",
        "reason",
        "token",
        "source",
        "received_at",
        "replayed_at",
        "raw_event",
    ]
    fields = ["status", *readonly_fields]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="errors")
    def errors_list(self, obj):
        rows = ((e.get("path") or "/", e.get("message", "")) for e in obj.errors)
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code>: {}</li>", rows))

    @admin.action(description="Replay the selected events through ingestion")
    def replay(self, request, queryset):
        replayed = failed = 0
        for item in queryset.filter(status=QuarantinedEvent.Status.PENDING):
            result = services.replay_quarantined(item=item, actor=request.user)
            if result.stored:
                replayed += 1
            else:
                failed += 1
        self.message_user(request, f"{replayed} replayed, {failed} still refused.", messages.INFO)


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["name", "namespace", "dataset_type", "updated_at"]
    search_fields = ["name", "namespace__name"]
    list_select_related = ["namespace"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["name", "namespace", "job_type", "parent", "updated_at"]
    search_fields = ["name", "namespace__name"]
    list_select_related = ["namespace", "parent"]


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["run_id", "job", "state", "started_at", "ended_at"]
    list_filter = ["state"]
    search_fields = ["run_id", "job__name"]
    list_select_related = ["job"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    """Read-only: stewards edit metadata on the dataset and job pages or with PATCH /api/v1/metadata, which
    validate it, check the namespace and record `metadata.updated` in the same transaction."""

    list_display = ["kind", "namespace", "name", "updated_by", "updated_at", "page"]
    search_fields = ["namespace", "name"]
    list_filter = ["kind"]
    fields = [
        "page",
        "kind",
        "namespace",
        "name",
        "description",
        "tags",
        "owners",
        "classifications",
        "fields",
        "updated_by",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="edit")
    def page(self, obj):
        return format_html('<a href="{}">Edit on its page</a>', node_url(obj.kind, obj.namespace, obj.name))
