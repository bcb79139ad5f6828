from django.contrib import admin

from .models import ApiToken, AuditRecord, Connection


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "scope",
        "owner",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["scope"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    exclude = ["digest"]

    def has_add_permission(self, request):
        # Tokens are issued by `manage.py create_token` or the token API, which show the secret once.
        return False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Metadata only: secrets are set through the API or the connection pages, and never shown here."""

    list_display = ["slug", "conn_type", "host", "schema", "login", "owner", "updated_at"]
    search_fields = ["slug", "host", "login"]
    fields = [
        "slug",
        "conn_type",
        "host",
        "port",
        "schema",
        "login",
        "description",
        "namespaces",
        "owner",
        "secrets_set",
        "key_id",
    ]
    readonly_fields = ["secrets_set", "key_id"]

    @admin.display(description="secrets")
    def secrets_set(self, obj):
        parts = [name for name, present in (("password", obj.has_password), ("extra", obj.has_extra)) if present]
        return ", ".join(parts) + " set (encrypted)" if parts else "none"


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, written by governance.audit.record alone."""

    list_display = ["sequence", "time", "actor_label", "action", "object_type", "object_name", "outcome", "source_ip"]
    list_filter = ["outcome", "action"]
    search_fields = ["actor_label", "action", "object_name", "object_id", "request_id"]
    date_hierarchy = "time"
    readonly_fields = [f.name for f in AuditRecord._meta.fields]
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
