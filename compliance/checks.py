"""The checks behind the rules: each inspects the real system and returns what violates its rule.

A check takes the rule (for its parameters) and returns a list of violations, each a dict with the violating
object's `type`, `id`, `name` and a `detail` a person can act on. An empty list means the rule holds.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from compliance.models import ComplianceRule, LegalHold

Violation = dict[str, Any]
CHECKS: dict[str, Callable[[ComplianceRule], list[Violation]]] = {}
LISTED = 200  # violations kept per result; the count is always exact


def check(name: str):
    def register(function):
        CHECKS[name] = function
        return function

    return register


def violation(kind: str, identifier, name: str, detail: str, *, namespaces=None, connection=None) -> Violation:
    """`namespaces`: every namespace the violation names (a user narrowed to others does not see it);
    `connection`: the id of the connection it is about (seen as the connections page shows it)."""
    found = {"type": kind, "id": str(identifier), "name": name, "detail": detail}
    if namespaces is not None:
        found["namespaces"] = sorted(set(namespaces))
    if connection is not None:
        found["connection"] = connection
    return found


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
            connection=c.pk,
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
                    connection=connection.pk,
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
                    namespaces=[annotation.namespace],
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
            namespaces=[d.namespace.name],
        )
        for d in gaps
    ]


# --- Classification ------------------------------------------------------------------------------------------


def _pii(rule: ComplianceRule):
    from compliance import selectors

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
        violation(
            "dataset",
            f"dataset:{d.namespace.name}:{d.name}",
            d.name,
            f"holds {label} and has no owner",
            namespaces=[d.namespace.name],
        )
        for d in Dataset.objects.filter(pk__in=holding).select_related("namespace").order_by("namespace__name", "name")
        if not d.owners and (d.namespace.name, d.name) not in annotated
    ]


@dataclass(frozen=True)
class Reader:
    """Someone who reads lineage: a user or a read token, within `scope` (namespace ids; None for all)."""

    label: str
    scope: frozenset[int] | None
    roles: frozenset[str]


def lineage_readers() -> list[Reader]:
    """Every active user with the lineage-reading capability and every active read token, each with the
    namespaces it reads, as governance.permissions decides them (grants narrow, admins are never narrowed, a
    token reads within its owner's namespaces and its own). A fixed number of queries, whatever the estate."""
    from django.contrib.auth.models import Permission
    from guardian.models import GroupObjectPermission, UserObjectPermission

    from governance.models import ApiToken, Namespace
    from governance.roles import ADMIN, READ_LINEAGE

    User = get_user_model()
    app_label, codename = READ_LINEAGE.split(".")
    read = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    grant = Permission.objects.filter(content_type__app_label="governance", codename="access_namespace")
    roles: dict[int, set[str]] = defaultdict(set)
    for user_id, role in User.groups.through.objects.values_list("user_id", "group__name"):
        roles[user_id].add(role)
    granted: dict[int, set[int]] = defaultdict(set)
    for user_id, pk in UserObjectPermission.objects.filter(permission__in=grant).values_list("user_id", "object_pk"):
        granted[user_id].add(int(pk))
    members: dict[int, set[int]] = defaultdict(set)
    for user_id, group_id in User.groups.through.objects.values_list("user_id", "group_id"):
        members[group_id].add(user_id)
    for group_id, pk in GroupObjectPermission.objects.filter(permission__in=grant).values_list("group_id", "object_pk"):
        for user_id in members[group_id]:
            granted[user_id].add(int(pk))

    readers, scopes = [], {}
    users = (
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__permissions__in=read) | Q(user_permissions__in=read))
        .distinct()
        .values_list("pk", "username", "is_superuser")
    )
    for pk, username, superuser in users:
        narrowed = not superuser and ADMIN not in roles[pk] and granted.get(pk)
        scopes[pk] = frozenset(granted[pk]) if narrowed else None
        readers.append(Reader(f"user {username}", scopes[pk], frozenset(roles[pk])))
    ids = dict(Namespace.objects.values_list("name", "pk"))
    for prefix, owner_id, names in (
        ApiToken.objects.active()
        .filter(scope__in=[ApiToken.Scope.READ, ApiToken.Scope.GOVERNANCE_READ])
        .values_list("prefix", "owner_id", "namespaces")
    ):
        if owner_id is not None and owner_id not in scopes:
            continue  # its owner reads nothing, so neither does the token
        scope = scopes.get(owner_id)
        if names:
            own = frozenset(ids[name] for name in names if name in ids)
            scope = own if scope is None else scope & own
        readers.append(Reader(f"read token {prefix}", scope, frozenset(roles[owner_id]) if owner_id else frozenset()))
    return readers


def _listed(labels: list[str], most: int = 5) -> str:
    labels = sorted(set(labels))
    return ", ".join(labels[:most]) + (f" and {len(labels) - most} more" if len(labels) > most else "")


@check("pii_exposure")
def pii_exposure(rule: ComplianceRule) -> list[Violation]:
    """Datasets holding PII through lineage that are readable where PII must not be:

    * in a namespace other than their source's that is not in `allowed_namespaces`;
    * by a user or read token that may read the dataset but not the source's namespace (narrowed by grants or
      by the token's namespaces), so lineage hands them what they were never granted;
    * by anyone in a role listed in `forbidden_roles` (declared sources included).
    """
    from lineage.models import Dataset

    label, sources, inferred = _pii(rule)
    allowed_names = set(rule.parameters.get("allowed_namespaces") or [])
    forbidden = set(rule.parameters.get("forbidden_roles") or [])

    def dataset_of(node) -> int:
        return node[1] if node[0] == "dataset" else node[1][0]

    holding = {dataset_of(i.node) for i in inferred} | {dataset_of(n) for n, _ in sources}
    datasets = {d.pk: d for d in Dataset.objects.filter(pk__in=holding).select_related("namespace")}
    readers = lineage_readers()
    narrowed = [r for r in readers if r.scope is not None]
    barred = [r for r in readers if r.roles & forbidden]

    def reads(reader: Reader, dataset) -> bool:
        return reader.scope is None or dataset.namespace_id in reader.scope

    reasons: dict[int, list[str]] = defaultdict(list)
    namespaces: dict[int, set[str]] = defaultdict(set)
    for item in inferred:
        target, source = datasets[dataset_of(item.node)], datasets[dataset_of(item.source)]
        carried = f"inherits {label} from dataset:{source.namespace.name}:{source.name} ({item.hops} hop(s))"
        if target.namespace_id != source.namespace_id and target.namespace.name not in allowed_names:
            reasons[target.pk].append(
                f"{carried} into namespace {target.namespace.name!r}, which is not cleared for {label}"
            )
            namespaces[target.pk] |= {target.namespace.name, source.namespace.name}
        exposed = [r.label for r in narrowed if reads(r, target) and not reads(r, source)]
        if exposed:
            reasons[target.pk].append(
                f"{carried}; readable by {_listed(exposed)}, who may not read {source.namespace.name!r}"
            )
            namespaces[target.pk] |= {target.namespace.name, source.namespace.name}
    for pk in holding:
        dataset = datasets.get(pk)
        if dataset is None:
            continue
        roles = sorted({role for r in barred if reads(r, dataset) for role in r.roles & forbidden})
        if roles:
            who = [r.label for r in barred if reads(r, dataset)]
            reasons[pk].append(f"holds {label} and is readable by role(s) {', '.join(roles)} ({_listed(who)})")
            namespaces[pk].add(dataset.namespace.name)
    found = []
    for pk in sorted(reasons, key=lambda pk: (datasets[pk].namespace.name, datasets[pk].name)):
        dataset = datasets[pk]
        found.append(
            violation(
                "dataset",
                f"dataset:{dataset.namespace.name}:{dataset.name}",
                dataset.name,
                "; ".join(dict.fromkeys(reasons[pk])),
                namespaces=namespaces[pk],
            )
        )
    return found
