"""The checks behind the rules: each inspects the real system and returns what violates its rule.

A check takes the rule (for its parameters) and returns a list of violations, each a dict with the violating
object's `type`, `id`, `name` and a `detail` a person can act on. An empty list means the rule holds.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .models import ComplianceRule, LegalHold

Violation = dict[str, Any]
CHECKS: dict[str, Callable[[ComplianceRule], list[Violation]]] = {}
LISTED = 200  # violations kept per result; the count is always exact


def check(name: str):
    def register(function):
        CHECKS[name] = function
        return function

    return register


def violation(kind: str, identifier, name: str, detail: str) -> Violation:
    return {"type": kind, "id": str(identifier), "name": name, "detail": detail}


# --- Retention -----------------------------------------------------------------------------------------------


def held_raw_events():
    """Raw events that legal holds protect: of a held namespace, job or dataset."""
    from lineage.models import RawEvent

    condition = Q(pk__in=[])
    for hold in LegalHold.objects.filter(released_at__isnull=True):
        if hold.kind == LegalHold.Kind.NAMESPACE:
            condition |= Q(job_namespace=hold.namespace)
        else:  # the raw event's job (or DatasetEvent dataset) identity
            condition |= Q(job_namespace=hold.namespace, job_name=hold.name)
            if hold.kind == LegalHold.Kind.DATASET:
                condition |= Q(body__contains=f'"{hold.name}"', body__icontains=hold.namespace)
    return RawEvent.objects.filter(condition)


@check("retention_metadata")
def retention_metadata(rule: ComplianceRule) -> list[Violation]:
    from lineage.models import RawEvent

    cutoff = timezone.now() - timedelta(days=rule.parameters.get("days", 2555))
    stale = RawEvent.objects.filter(event_time__lt=cutoff).exclude(pk__in=held_raw_events().values("pk"))
    count = stale.count()
    if not count:
        return []
    oldest = stale.order_by("event_time").first()
    return [
        violation(
            "raw events",
            "*",
            f"{count} raw event(s)",
            f"{count} raw event(s) older than {rule.parameters.get('days')} days are still stored "
            f"(oldest {oldest.event_time:%Y-%m-%d}); run `manage.py enforce_retention`",
        )
    ]


@check("retention_audit")
def retention_audit(rule: ComplianceRule) -> list[Violation]:
    from governance.audit import AuditRecord

    cutoff = timezone.now() - timedelta(days=rule.parameters.get("days", 3650))
    count = AuditRecord.objects.filter(time__lt=cutoff).count()
    if not count:
        return []
    return [
        violation(
            "audit records",
            "*",
            f"{count} audit record(s)",
            f"{count} audit record(s) are older than {rule.parameters.get('days')} days; run "
            "`manage.py enforce_retention`",
        )
    ]


# --- Encryption ----------------------------------------------------------------------------------------------


@check("connections_encrypted")
def connections_encrypted(rule: ComplianceRule) -> list[Violation]:
    from governance import crypto
    from governance.models import Connection

    newest = crypto.current_key_id()
    stale = Connection.objects.exclude(key_id=newest).exclude(password_encrypted="", extra_encrypted="")
    return [
        violation(
            "connection",
            c.slug,
            c.slug,
            f"secrets encrypted with key {c.key_id or 'unknown'}, not the newest ({newest}): run "
            "`manage.py rotate_fernet_keys`",
        )
        for c in stale.order_by("slug")
    ]


# --- Access control ------------------------------------------------------------------------------------------


@check("mfa_enrolled")
def mfa_enrolled(rule: ComplianceRule) -> list[Violation]:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    roles = rule.parameters.get("roles") or list(settings.TRIBUTARY_MFA_REQUIRED_ROLES)
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name__in=roles) | Q(is_superuser=True))
        .distinct()
        .annotate(enrolled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .filter(enrolled=False)
        .order_by("username")
    )
    return [
        violation("user", user.pk, user.get_username(), "in a role that needs a second factor, and has none")
        for user in users
    ]


@check("session_timeout")
def session_timeout(rule: ComplianceRule) -> list[Violation]:
    allowed = rule.parameters.get("minutes", 480)
    configured = settings.TRIBUTARY_SESSION_TIMEOUT_MINUTES
    if configured <= allowed and allowed * 60 >= settings.SESSION_COOKIE_AGE:
        return []
    return [
        violation(
            "setting",
            "TRIBUTARY_SESSION_TIMEOUT_MINUTES",
            "session timeout",
            f"sessions last {configured} minutes; the rule allows {allowed}",
        )
    ]


@check("password_policy")
def password_policy(rule: ComplianceRule) -> list[Violation]:
    minimum, classes = rule.parameters.get("min_length", 12), rule.parameters.get("classes", 3)
    found = {v["NAME"].rsplit(".", 1)[-1]: v.get("OPTIONS", {}) for v in settings.AUTH_PASSWORD_VALIDATORS}
    problems = []
    if (
        found.get("MinimumLengthValidator", {}).get("min_length", 8 if "MinimumLengthValidator" in found else 0)
        < minimum
    ):
        problems.append(f"passwords may be shorter than {minimum} characters")
    if "ComplexityValidator" not in found or found["ComplexityValidator"].get("classes", 3) < classes:
        problems.append(f"passwords need not mix {classes} kinds of characters")
    return [violation("setting", "AUTH_PASSWORD_VALIDATORS", "password validators", p) for p in problems]


# --- Audit ---------------------------------------------------------------------------------------------------


@check("audit_enabled")
def audit_enabled(rule: ComplianceRule) -> list[Violation]:
    if getattr(settings, "TRIBUTARY_AUDIT_ENABLED", True):
        return []
    return [violation("setting", "TRIBUTARY_AUDIT_ENABLED", "audit trail", "the audit trail is switched off")]


@check("audit_chain")
def audit_chain(rule: ComplianceRule) -> list[Violation]:
    from governance.audit import verify_chain

    result = verify_chain()
    if result.ok:
        return []
    broken = result.broken
    return [violation("audit record", broken.sequence, f"record #{broken.sequence}", broken.reason)]


@check("changes_recorded")
def changes_recorded(rule: ComplianceRule) -> list[Violation]:
    """The latest change of each connection and annotation has its audit record (written in the same
    transaction, so a gap means a change behind the application's back)."""
    from governance.audit import AuditRecord
    from governance.models import Connection
    from lineage.models import Annotation

    found = []
    slack = timedelta(seconds=5)
    for connection in Connection.objects.all():
        recorded = AuditRecord.objects.filter(
            action__in=("connection.created", "connection.updated"),
            object_type="governance.connection",
            object_id=str(connection.pk),
            time__gte=connection.updated_at - slack,
        ).exists()
        if not recorded:
            found.append(
                violation(
                    "connection",
                    connection.slug,
                    connection.slug,
                    f"changed at {connection.updated_at:%Y-%m-%d %H:%M} without an audit record",
                )
            )
    for annotation in Annotation.objects.all():
        recorded = AuditRecord.objects.filter(
            action="metadata.updated",
            object_id=f"{annotation.kind}:{annotation.namespace}:{annotation.name}",
            time__gte=annotation.updated_at - slack,
        ).exists()
        if not recorded:
            found.append(
                violation(
                    annotation.kind,
                    str(annotation),
                    str(annotation),
                    f"metadata changed at {annotation.updated_at:%Y-%m-%d %H:%M} without an audit record",
                )
            )
    return found


# --- Lineage -------------------------------------------------------------------------------------------------


@check("lineage_coverage")
def lineage_coverage(rule: ComplianceRule) -> list[Violation]:
    from lineage.models import Dataset, JobEdge

    cutoff = timezone.now() - timedelta(days=rule.parameters.get("days", 30))
    read = JobEdge.objects.filter(dataset=OuterRef("pk"), direction="in", first_seen__lt=cutoff)
    written = JobEdge.objects.filter(dataset=OuterRef("pk"), direction="out")
    gaps = (
        Dataset.objects.annotate(read=Exists(read), written=Exists(written))
        .filter(read=True, written=False, is_deleted=False)
        .select_related("namespace")
        .order_by("namespace__name", "name")
    )
    return [
        violation(
            "dataset",
            f"dataset:{d.namespace.name}:{d.name}",
            d.name,
            "read by jobs but written by none that reports lineage: its producer is invisible",
        )
        for d in gaps
    ]


# --- Classification ------------------------------------------------------------------------------------------


def _pii(rule: ComplianceRule):
    from . import selectors

    label = selectors.normalise(rule.parameters.get("classification", "PII"))
    sources = selectors.classified_sources(label)
    return label, sources, selectors.inferred(sources=sources)


@check("pii_has_owner")
def pii_has_owner(rule: ComplianceRule) -> list[Violation]:
    from lineage.models import Annotation, Dataset

    label, sources, inferred = _pii(rule)
    holding = {n[1] if n[0] == "dataset" else n[1][0] for n, _ in sources}
    holding |= {i.node[1] if i.node[0] == "dataset" else i.node[1][0] for i in inferred}
    annotated = {(a.namespace, a.name) for a in Annotation.objects.filter(kind="dataset").exclude(owners=[])}
    return [
        violation("dataset", f"dataset:{d.namespace.name}:{d.name}", d.name, f"holds {label} and has no owner")
        for d in Dataset.objects.filter(pk__in=holding).select_related("namespace").order_by("namespace__name", "name")
        if not d.owners and (d.namespace.name, d.name) not in annotated
    ]


@check("pii_exposure")
def pii_exposure(rule: ComplianceRule) -> list[Violation]:
    from lineage.models import Dataset

    label, _, inferred = _pii(rule)
    allowed_names = set(rule.parameters.get("allowed_namespaces") or [])
    datasets = {
        d.pk: d
        for d in Dataset.objects.filter(
            pk__in={i.node[1] if i.node[0] == "dataset" else i.node[1][0] for i in inferred}
            | {i.source[1] if i.source[0] == "dataset" else i.source[1][0] for i in inferred}
        ).select_related("namespace")
    }
    found = {}
    for item in inferred:
        target = datasets[item.node[1] if item.node[0] == "dataset" else item.node[1][0]]
        source = datasets[item.source[1] if item.source[0] == "dataset" else item.source[1][0]]
        if target.namespace_id == source.namespace_id or target.namespace.name in allowed_names:
            continue
        key = f"dataset:{target.namespace.name}:{target.name}"
        if key not in found:
            found[key] = violation(
                "dataset",
                key,
                target.name,
                f"inherits {label} from dataset:{source.namespace.name}:{source.name} ({item.hops} hop(s)) into "
                f"namespace {target.namespace.name!r}, which is not cleared for {label}",
            )
    return list(found.values())
