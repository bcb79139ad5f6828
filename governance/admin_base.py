"""What the admins of every app share."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable in Django's admin, never added, changed or deleted there: the rows are derived (rebuilt from
    events), append-only (the audit trail, check results, signed reports), or changed only through the pages and
    the API, whose services check namespaces, encrypt and record the change."""

    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
