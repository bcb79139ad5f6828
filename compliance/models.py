"""Compliance: rules (data, editable by admins), the results of checking them, legal holds, and signed reports."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Category(models.TextChoices):
    RETENTION = "retention"
    ENCRYPTION = "encryption"
    ACCESS_CONTROL = "access_control"
    AUDIT = "audit"
    LINEAGE = "lineage"
    CLASSIFICATION = "classification"


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ComplianceRule(models.Model):
    """A requirement in force. `check` names the function in compliance.checks that finds what violates it;
    `parameters` are its thresholds (e.g. {"days": 2555})."""

    id = models.SlugField(primary_key=True, max_length=80)
    category = models.CharField(max_length=20, choices=Category.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    check_name = models.CharField(max_length=80)
    parameters = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["category", "id"]

    def __str__(self) -> str:
        return self.id


class CheckRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, help_text="schedule, manual or report")
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"check run {self.started_at:%Y-%m-%d %H:%M}"


class CheckResult(models.Model):
    class Status(models.TextChoices):
        PASS = "pass"
        FAIL = "fail"
        ERROR = "error"

    run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="results")
    rule_id = models.CharField(max_length=80, db_index=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=5, choices=Status.choices)
    violation_count = models.PositiveIntegerField(default=0)
    violations = models.JSONField(default=list, help_text="The first violating objects (capped).")
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["rule_id", "checked_at"], name="check_result_rule_time")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.status} @ {self.checked_at:%Y-%m-%d %H:%M}"


class LegalHold(models.Model):
    """While active, retention never purges what it covers: a dataset, a job, or a whole namespace."""

    class Kind(models.TextChoices):
        DATASET = "dataset"
        JOB = "job"
        NAMESPACE = "namespace"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    namespace = models.CharField(max_length=1024)
    name = models.CharField(max_length=1024, blank=True, help_text="Empty for a whole namespace.")
    reason = models.TextField()
    placed_at = models.DateTimeField(default=timezone.now)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"hold on {self.kind} {self.namespace}:{self.name}"

    @property
    def active(self) -> bool:
        return self.released_at is None


class ComplianceReport(models.Model):
    """Every report generated: what period, who, and the digest and signature of the exact bytes served."""

    generated_at = models.DateTimeField(default=timezone.now)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    format = models.CharField(max_length=5)
    sha256 = models.CharField(max_length=64)
    signature = models.TextField(help_text="Ed25519 signature of the SHA-256, base64.")
    key_id = models.CharField(max_length=16)
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["-generated_at"]

    def __str__(self) -> str:
        return f"report {self.start:%Y-%m-%d}–{self.end:%Y-%m-%d} ({self.format})"
