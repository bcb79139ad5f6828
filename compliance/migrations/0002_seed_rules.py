"""The seed's compliance requirements, as rules admins can edit (every edit audited)."""

from django.db import migrations

RULES = [
    (
        "retention-metadata",
        "retention",
        "medium",
        "Lineage metadata is kept 2,555 days, no longer",
        "Raw events and runs older than the retention period are removed (unless on legal hold).",
        "retention_metadata",
        {"days": 2555},
    ),
    (
        "retention-audit",
        "retention",
        "medium",
        "The audit trail is kept 3,650 days, no longer",
        "Audit records older than the retention period are cut, leaving a verifiable anchor.",
        "retention_audit",
        {"days": 3650},
    ),
    (
        "encryption-connections",
        "encryption",
        "high",
        "Connection secrets are encrypted with the newest key",
        "Passwords and extras of connections are encrypted at rest, and re-encrypted after a key rotation.",
        "connections_encrypted",
        {},
    ),
    (
        "mfa-required",
        "access_control",
        "high",
        "Privileged roles use a second factor",
        "Users of the roles developer, auditor and admin have a confirmed TOTP device.",
        "mfa_enrolled",
        {"roles": ["developer", "auditor", "admin"]},
    ),
    (
        "session-timeout",
        "access_control",
        "medium",
        "Sessions end after 480 minutes at most",
        "The configured session lifetime does not exceed the rule.",
        "session_timeout",
        {"minutes": 480},
    ),
    (
        "password-complexity",
        "access_control",
        "medium",
        "Passwords are long and mixed",
        "Password validators require at least 12 characters mixing 3 kinds of characters.",
        "password_policy",
        {"min_length": 12, "classes": 3},
    ),
    (
        "audit-all-access-logged",
        "audit",
        "high",
        "All access is logged",
        "The audit trail is on: logins, refusals, changes, reveals and report downloads are recorded.",
        "audit_enabled",
        {},
    ),
    (
        "audit-chain-intact",
        "audit",
        "critical",
        "The audit trail is intact",
        "The hash chain of the audit trail verifies from its first (or anchor) record to its head.",
        "audit_chain",
        {},
    ),
    (
        "change-management",
        "audit",
        "high",
        "Every change is recorded",
        "Each connection and steward annotation has an audit record of its latest change.",
        "changes_recorded",
        {},
    ),
    (
        "lineage-coverage",
        "lineage",
        "low",
        "Data read by pipelines has known lineage",
        "A dataset read by jobs for more than N days but written by none has a gap in its lineage.",
        "lineage_coverage",
        {"days": 30},
    ),
    (
        "pii-owner",
        "classification",
        "high",
        "Datasets holding PII have an owner",
        "Every dataset classified PII, or inheriting PII through lineage, names an owner.",
        "pii_has_owner",
        {"classification": "PII"},
    ),
    (
        "pii-exposure",
        "classification",
        "high",
        "PII stays where it is allowed",
        "Datasets inheriting PII lie in the namespace of its source or in a namespace cleared for PII.",
        "pii_exposure",
        {"classification": "PII", "allowed_namespaces": []},
    ),
]


def seed(apps, schema_editor):
    Rule = apps.get_model("compliance", "ComplianceRule")
    for rule_id, category, severity, title, description, check, parameters in RULES:
        Rule.objects.get_or_create(
            id=rule_id,
            defaults={
                "category": category,
                "severity": severity,
                "title": title,
                "description": description,
                "check_name": check,
                "parameters": parameters,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_rules_results_holds_reports")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
