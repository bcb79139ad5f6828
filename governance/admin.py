from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdmin

from governance.admin_base import ReadOnlyAdmin
from governance.models import ApiToken, AuditRecord, Connection, Namespace


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Listed here; made, revoked and given scopes only through `create_token`, /tokens/ and /api/v1/tokens, which
    check who may make which scope and record it. An edit form here would let a read token become governance-read,
    or lose its expiry, with no audit record."""

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
    exclude = ["digest"]


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    """Read-only, metadata only. Connections are created, changed and deleted on their pages (/connections/) or
    through the API, which check the user's namespaces, encrypt the secrets and write the audit record in the
    same transaction; an admin form would bypass all three. Secrets are never shown here."""

    list_display = ["slug", "conn_type", "host", "schema", "login", "owner", "updated_at", "page"]
    search_fields = ["slug", "host", "login"]
    fields = [
        "page",
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
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    ]
    readonly_fields = fields

    @admin.display(description="secrets")
    def secrets_set(self, obj):
        parts = [name for name, present in (("password", obj.has_password), ("extra", obj.has_extra)) if present]
        return ", ".join(parts) + " set (encrypted)" if parts else "none"

    @admin.display(description="edit")
    def page(self, obj):
        url = reverse("connection-page", args=[obj.slug])
        return format_html('<a href="{}">Edit, test or delete on its page</a>', url)


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    """Read-only: the audit trail is append-only, written by governance.audit.record alone."""

    list_display = ["sequence", "time", "actor_label", "action", "object_type", "object_name", "outcome", "source_ip"]
    list_filter = ["outcome", "action"]
    search_fields = ["actor_label", "action", "object_name", "object_id", "request_id"]
    date_hierarchy = "time"
    readonly_fields = [f.name for f in AuditRecord._meta.fields]


@admin.register(Namespace)
class NamespaceAdmin(GuardedModelAdmin):
    """Per-namespace grants: 'Object permissions' on a namespace gives users or groups `access_namespace` there,
    which narrows their roles to the namespaces so granted."""

    list_display = ["name", "created_at", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
