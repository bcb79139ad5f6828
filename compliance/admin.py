from django.contrib import admin

from .models import CheckResult, ComplianceReport, ComplianceRule, LegalHold


@admin.register(ComplianceRule)
class ComplianceRuleAdmin(admin.ModelAdmin):
    list_display = ["id", "category", "severity", "title", "enabled", "updated_at"]
    list_filter = ["category", "severity", "enabled"]
    readonly_fields = ["id", "check_name", "updated_at", "updated_by"]

    def save_model(self, request, obj, form, change):
        from .services import update_rule

        if change:
            values = {field: form.cleaned_data[field] for field in form.changed_data if field in form.cleaned_data}
            update_rule(rule=ComplianceRule.objects.get(pk=obj.pk), values=values, user=request.user)
        else:
            super().save_model(request, obj, form, change)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ["kind", "namespace", "name", "reason", "placed_at", "released_at"]


@admin.register(CheckResult)
class CheckResultAdmin(admin.ModelAdmin):
    list_display = ["rule_id", "status", "violation_count", "checked_at"]
    list_filter = ["status", "category"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ComplianceReport)
class ComplianceReportAdmin(admin.ModelAdmin):
    list_display = ["generated_at", "generated_by", "start", "end", "format", "sha256"]

    def has_change_permission(self, request, obj=None):
        return False
