"""Compliance in Django's admin: every change goes through the audited services, and nothing that a period's
compliance rate rests on (check results, signed reports) can be added, edited or deleted here."""

from django.contrib import admin, messages

from compliance import services
from compliance.models import CheckResult, ComplianceReport, ComplianceRule, LegalHold
from governance.admin_base import ReadOnlyAdmin


@admin.register(ComplianceRule)
class ComplianceRuleAdmin(admin.ModelAdmin):
    """Rules come from the checks in code (seeded by a migration): admins tune them, they do not add or drop them
    (disable one instead). Every edit goes through `services.update_rule`, which records it."""

    list_display = ["id", "category", "severity", "title", "enabled", "updated_at"]
    list_filter = ["category", "severity", "enabled"]
    fields = ["id", "category", "check_name", "title", "description", "severity", "parameters", "enabled"]
    readonly_fields = ["id", "category", "check_name", "updated_at", "updated_by"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {field: form.cleaned_data[field] for field in form.changed_data if field in form.cleaned_data}
        saved = services.update_rule(rule=obj, values=values, user=request.user)
        obj.updated_at, obj.updated_by = saved.updated_at, saved.updated_by


@admin.action(description="Release the selected holds", permissions=["add"])
def release_holds(modeladmin, request, queryset):
    released = 0
    for hold in queryset.filter(released_at__isnull=True):
        services.release_hold(hold=hold, user=request.user)
        released += 1
    modeladmin.message_user(request, f"Released {released} hold(s).", messages.SUCCESS)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    """Holds are placed here or through the API (`services.place_hold`), released with the action
    (`services.release_hold`), both recorded; a hold is never edited or deleted, so its history stays."""

    list_display = ["kind", "namespace", "name", "reason", "placed_at", "placed_by", "released_at", "released_by"]
    list_filter = ["kind"]
    fields = ["kind", "namespace", "name", "reason"]
    actions = [release_holds]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        hold = services.place_hold(
            kind=obj.kind, namespace=obj.namespace, name=obj.name, reason=obj.reason, user=request.user
        )
        obj.pk, obj.placed_at, obj.placed_by = hold.pk, hold.placed_at, hold.placed_by


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ["rule_id", "status", "violation_count", "checked_at"]
    list_filter = ["status", "category"]


@admin.register(ComplianceReport)
class ComplianceReportAdmin(ReadOnlyAdmin):
    list_display = ["generated_at", "generated_by", "start", "end", "format", "sha256"]
