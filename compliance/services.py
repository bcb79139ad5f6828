"""Compliance use cases: run the checks, build a period's report, enforce retention, place legal holds."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncWeek
from django.utils import timezone

from compliance.checks import CHECKS, LISTED
from compliance.models import CheckResult, CheckRun, ComplianceRule, LegalHold
from governance.audit import record

log = logging.getLogger(__name__)

# Audited actions whose refusal or failure is a policy violation, and the category it counts under.
VIOLATION_CATEGORIES = {
    "auth.": "access_control",
    "access.": "access_control",
    "connection.": "encryption",
    "token.": "access_control",
    "audit.": "audit",
    "quarantine.": "lineage",
}


def category_of(action: str) -> str:
    return next((category for prefix, category in VIOLATION_CATEGORIES.items() if action.startswith(prefix)), "audit")


# --- Checks ----------------------------------------------------------------------------------------------------


def run_checks(*, trigger: str, user=None, rules=None) -> CheckRun:
    """Check every enabled rule against the system now and store each result with its time."""
    rules = list(rules if rules is not None else ComplianceRule.objects.filter(enabled=True))
    outcomes = []
    for rule in rules:
        try:
            found = CHECKS[rule.check_name](rule)
            status = CheckResult.Status.FAIL if found else CheckResult.Status.PASS
        except Exception as error:  # a broken check is reported as such, and does not hide the others
            log.exception("compliance check %s failed", rule.id)
            found, status = (
                [
                    {
                        "type": "check",
                        "id": rule.check_name,
                        "name": rule.check_name,
                        "detail": f"the check could not run: {type(error).__name__}: {error}",
                    }
                ],
                "error",
            )
        outcomes.append((rule, status, found))
    with transaction.atomic():
        run = CheckRun.objects.create(trigger=trigger, triggered_by=user if getattr(user, "pk", None) else None)
        CheckResult.objects.bulk_create(
            CheckResult(
                run=run,
                rule_id=rule.id,
                category=rule.category,
                severity=rule.severity,
                status=status,
                violation_count=len(found),
                violations=found[:LISTED],
                checked_at=run.started_at,
            )
            for rule, status, found in outcomes
        )
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
        record(
            "compliance.checked",
            actor=user,
            detail={
                "trigger": trigger,
                "rules": len(outcomes),
                "failed": [rule.id for rule, status, _ in outcomes if status != CheckResult.Status.PASS],
            },
        )
    return run


def ensure_recent_checks() -> None:
    """Without a broker there is no Celery beat: the embedded default checks when someone looks and the last
    run is older than the schedule's interval, so rates over time still rest on dated results."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return
    interval = settings.CELERY_BEAT_SCHEDULE["compliance-checks"]["schedule"]
    latest = CheckRun.objects.order_by("-started_at").values_list("started_at", flat=True).first()
    if latest is None or (timezone.now() - latest).total_seconds() > interval:
        run_checks(trigger="schedule")


def update_rule(*, rule: ComplianceRule, values: dict[str, Any], user) -> ComplianceRule:
    with transaction.atomic():
        rule = ComplianceRule.objects.select_for_update().get(pk=rule.pk)
        changes = {}
        for field in ("enabled", "severity", "parameters", "title", "description"):
            if field in values and values[field] != getattr(rule, field):
                changes[field] = {"before": getattr(rule, field), "after": values[field]}
                setattr(rule, field, values[field])
        rule.updated_by = user
        rule.save()
        record("compliance.rule_updated", actor=user, target=rule, changes=changes)
    return rule


# --- Legal holds -------------------------------------------------------------------------------------------------


def place_hold(*, kind: str, namespace: str, name: str, reason: str, user) -> LegalHold:
    with transaction.atomic():
        hold = LegalHold.objects.create(
            kind=kind, namespace=namespace, name=name if kind != "namespace" else "", reason=reason, placed_by=user
        )
        record("compliance.hold_placed", actor=user, target=hold, detail={"reason": reason})
    return hold


def visible_holds(view):
    """Active and released holds on what `view` covers (a hold names its dataset, job or namespace)."""
    holds = LegalHold.objects.all()
    return holds if view.everything else holds.filter(namespace__in=view.namespaces)


def release_hold(*, hold: LegalHold, user) -> LegalHold:
    with transaction.atomic():
        hold.released_at, hold.released_by = timezone.now(), user
        hold.save(update_fields=["released_at", "released_by"])
        record("compliance.hold_released", actor=user, target=hold)
    return hold


# --- Retention ---------------------------------------------------------------------------------------------------


@dataclass
class RetentionOutcome:
    dry_run: bool
    raw_events: int
    runs: int
    audit_records: int
    held_raw_events: int
    cutoffs: dict[str, str]


def enforce_retention(*, dry_run: bool, user=None, now: datetime | None = None) -> RetentionOutcome:
    """Remove what is older than its retention rule (raw events and runs; the audit trail through its
    chain-preserving cut), never what a legal hold covers; leave a record of what went."""
    from compliance.checks import held_raw_events
    from governance import audit
    from lineage.models import RawEvent, Run

    now = now or timezone.now()
    rules = {rule.id: rule for rule in ComplianceRule.objects.filter(id__in=["retention-metadata", "retention-audit"])}
    metadata_days = rules["retention-metadata"].parameters.get("days", 2555) if "retention-metadata" in rules else 2555
    audit_days = rules["retention-audit"].parameters.get("days", 3650) if "retention-audit" in rules else 3650
    metadata_cutoff = now - timedelta(days=metadata_days)
    audit_cutoff = now - timedelta(days=audit_days)

    held = held_raw_events().values("pk")
    old_raw = RawEvent.objects.filter(event_time__lt=metadata_cutoff)
    doomed_raw = old_raw.exclude(pk__in=held)
    held_jobs = Q(pk__in=[])
    for hold in LegalHold.objects.filter(released_at__isnull=True):
        if hold.kind == LegalHold.Kind.NAMESPACE:
            held_jobs |= Q(job__namespace__name=hold.namespace)
        elif hold.kind == LegalHold.Kind.JOB:
            held_jobs |= Q(job__namespace__name=hold.namespace, job__name=hold.name)
        else:
            held_jobs |= Q(io__dataset__namespace__name=hold.namespace, io__dataset__name=hold.name)
    doomed_runs = Run.objects.filter(updated_at__lt=metadata_cutoff).exclude(held_jobs)

    with transaction.atomic():
        outcome = RetentionOutcome(
            dry_run=dry_run,
            raw_events=doomed_raw.count(),
            runs=doomed_runs.distinct().count(),
            audit_records=0,
            held_raw_events=old_raw.count() - doomed_raw.count(),
            cutoffs={"metadata": metadata_cutoff.isoformat(), "audit": audit_cutoff.isoformat()},
        )
        if not dry_run:
            Run.objects.filter(pk__in=list(doomed_runs.values_list("pk", flat=True))).delete()
            doomed_raw.delete()
        cut = audit.audit_retention_cut(before=audit_cutoff, dry_run=dry_run, actor=user)
        outcome.audit_records = cut.count
        if not dry_run:
            record(
                "compliance.retention",
                actor=user,
                detail={
                    "raw_events": outcome.raw_events,
                    "runs": outcome.runs,
                    "audit_records": outcome.audit_records,
                    "held_raw_events": outcome.held_raw_events,
                    **outcome.cutoffs,
                },
            )
    return outcome


# --- The report --------------------------------------------------------------------------------------------------


def _rate(compliant: int, total: int) -> float:
    return round(100.0 * compliant / total, 2) if total else 100.0


def report_data(*, start: datetime, end: datetime, user=None, listed: int = 500) -> dict[str, Any]:
    """The seed's report shape (period, summary, violation categories, recent violations, requirements) and
    more, computed with aggregate queries: nothing loads all events of the period.

    Seen as `user` may see it: counts are exact, but the objects named (datasets, jobs, connections) are only those
    of the user's namespaces; each list says how many it leaves out, and `scope` says whose view it is."""
    from compliance.scope import view_of
    from compliance.selectors import classified_sources, inferred
    from governance.audit import AuditRecord

    view = view_of(user)

    results = CheckResult.objects.filter(checked_at__gte=start, checked_at__lt=end)
    records = AuditRecord.objects.filter(time__gte=start, time__lt=end)
    violating = Q(outcome__in=["denied", "failure"])

    evaluations = results.count()
    failed_evaluations = results.exclude(status=CheckResult.Status.PASS).count()
    audited = records.count()
    audit_violations = records.filter(violating).count()
    total = evaluations + audited
    violations = failed_evaluations + audit_violations

    categories: dict[str, int] = {}
    for row in results.exclude(status=CheckResult.Status.PASS).values("category").annotate(n=Count("pk")):
        categories[row["category"]] = categories.get(row["category"], 0) + row["n"]
    for row in records.filter(violating).values("action").annotate(n=Count("pk")):
        category = category_of(row["action"])
        categories[category] = categories.get(category, 0) + row["n"]

    recent = [
        {
            "time": r.checked_at,
            "source": "check",
            "category": r.category,
            "rule": r.rule_id,
            "severity": r.severity,
            **_check_detail(r, view),
        }
        for r in results.exclude(status=CheckResult.Status.PASS).order_by("-checked_at")[:10]
    ]
    recent += [
        {
            "time": r.time,
            "source": "audit",
            "category": category_of(r.action),
            "rule": r.action,
            "severity": "medium",
            **_audit_detail(r, view),
        }
        for r in records.filter(violating).order_by("-time")[:10]
    ]
    recent = sorted(recent, key=lambda v: v["time"], reverse=True)[:10]

    per_rule = []
    for rule in ComplianceRule.objects.all():
        last = CheckResult.objects.filter(rule_id=rule.id, checked_at__lt=end).order_by("-checked_at").first()
        per_rule.append(
            {
                "rule": rule.id,
                "title": rule.title,
                "category": rule.category,
                "severity": rule.severity,
                "enabled": rule.enabled,
                "status": last.status if last else "not checked",
                "violations": last.violation_count if last else None,
                "checkedAt": last.checked_at if last else None,
            }
        )

    bucket = TruncDay if (end - start) <= timedelta(days=92) else TruncWeek
    trend: dict[Any, list[int]] = {}
    for row in (
        results.annotate(at=bucket("checked_at"))
        .values("at")
        .annotate(total=Count("pk"), bad=Count("pk", filter=~Q(status=CheckResult.Status.PASS)))
    ):
        trend.setdefault(row["at"], [0, 0])
        trend[row["at"]][0] += row["total"]
        trend[row["at"]][1] += row["bad"]
    for row in (
        records.annotate(at=bucket("time")).values("at").annotate(total=Count("pk"), bad=Count("pk", filter=violating))
    ):
        trend.setdefault(row["at"], [0, 0])
        trend[row["at"]][0] += row["total"]
        trend[row["at"]][1] += row["bad"]

    reveals = records.filter(action="connection.revealed")
    reveal_counts = {row["outcome"]: row["n"] for row in reveals.values("outcome").annotate(n=Count("pk"))}
    reveals_total = reveals.count()
    if not view.everything:  # a narrowed user sees the reveals of the connections serving their namespaces
        reveals = reveals.filter(object_id__in=[str(pk) for pk in view.connections])
    reveals_shown = reveals.count() if not view.everything else reveals_total

    pii_sources = classified_sources("PII")
    pii_flows = inferred(sources=pii_sources)
    chain = _chain_verification(end)

    return {
        "period": {"start": start, "end": end},
        "generatedAt": timezone.now(),
        "generatedBy": user.get_username() if getattr(user, "pk", None) else None,
        "scope": view.label,
        "summary": {
            "totalEvents": total,
            "compliantEvents": total - violations,
            "violations": violations,
            "complianceRate": _rate(total - violations, total),
            "checkEvaluations": evaluations,
            "auditedEvents": audited,
        },
        "violationCategories": dict(sorted(categories.items())),
        "recentViolations": recent,
        "requirements": [
            {
                "rule": r.id,
                "category": r.category,
                "severity": r.severity,
                "title": r.title,
                "parameters": view.parameters(r.parameters),
                "enabled": r.enabled,
            }
            for r in ComplianceRule.objects.all()
        ],
        "ruleStatus": per_rule,
        "trend": [
            {
                "period": at,
                "events": counts[0],
                "violations": counts[1],
                "complianceRate": _rate(counts[0] - counts[1], counts[0]),
            }
            for at, counts in sorted(trend.items())
        ],
        "pii": _pii_section(pii_sources, pii_flows, listed, view),
        "secretAccess": {
            "total": reveals_total,
            "byOutcome": reveal_counts,
            "hidden": reveals_total - reveals_shown,
            "recent": [
                {
                    "time": r.time,
                    "actor": r.actor_label,
                    "connection": r.object_id,
                    "outcome": r.outcome,
                    "sourceIp": r.source_ip,
                }
                for r in reveals.order_by("-time")[:listed]
            ],
        },
        "auditChain": chain,
    }


def _chain_verification(end: datetime) -> dict[str, Any]:
    """The audit chain's verification as of the period's end: the result of the scheduled check at or before it
    (walking a long chain takes a minute: it is done on schedule, not per download), or a walk now when no check
    has run yet."""
    from governance.audit import AuditRecord, verify_chain

    result = (
        CheckResult.objects.filter(rule_id="audit-chain-intact", checked_at__lt=end, status__in=["pass", "fail"])
        .order_by("-checked_at")
        .first()
    )
    records = AuditRecord.objects.filter(time__lt=end).count()
    if result is None:
        walk = verify_chain()
        return {
            "ok": walk.ok,
            "records": records,
            "checkedAt": timezone.now(),
            "source": "verified for this report",
            "brokenAt": walk.broken.sequence if walk.broken else None,
            "reason": walk.broken.reason if walk.broken else None,
        }
    broken = result.violations[0] if result.violations else None
    return {
        "ok": result.status == "pass",
        "records": records,
        "checkedAt": result.checked_at,
        "source": "scheduled check",
        "brokenAt": int(broken["id"]) if broken else None,
        "reason": broken["detail"] if broken else None,
    }


def _check_detail(result: CheckResult, view) -> dict[str, Any]:
    shown, hidden = view.violations(result.violations)
    detail = f"{result.violation_count} violation(s)" + (f": {shown[0]['detail']}" if shown else "")
    if hidden:
        detail += f" ({hidden} listed outside your namespaces)"
    return {"detail": detail, "restricted": bool(hidden) and not shown}


def _audit_detail(item, view) -> dict[str, Any]:
    actor = item.actor_label or "anonymous"
    if not view.sees_audit_record(item.namespaces):
        return {"detail": f"{item.outcome}: {actor} on an object outside your namespaces", "restricted": True}
    what = f"{item.object_type or '-'} {item.object_name or item.object_id or ''}"
    return {"detail": f"{item.outcome}: {actor} on {what}".strip(), "restricted": False}


def _pii_section(sources, flows, listed: int, view) -> dict[str, Any]:
    """Where PII is declared and where lineage carries it. A narrowed user sees the sources and flows whose ends lie
    in their namespaces, with the steps between outside them shown as "restricted" (as the lineage API does)."""
    from lineage.models import Dataset

    ids = {n[1] if n[0] == "dataset" else n[1][0] for n, _ in sources}
    for item in flows:
        ids |= {n[1] if n[0] == "dataset" else n[1][0] for n in item.path}
    names = {
        pk: (ns, f"{ns}:{name}")
        for pk, ns, name in Dataset.objects.filter(pk__in=ids).values_list("pk", "namespace__name", "name")
    }

    def seen(node) -> bool:
        entry = names.get(node[1] if node[0] == "dataset" else node[1][0])
        return entry is not None and view.sees_namespaces([entry[0]])

    def label(node) -> str:
        if not seen(node):
            return "restricted"
        if node[0] == "dataset":
            return f"dataset:{names[node[1]][1]}"
        return f"datasetField:{names[node[1][0]][1]}:{node[1][1]}"

    shown_sources = [label(node) for node, _ in sources if seen(node)]
    shown_flows = [i for i in flows if seen(i.source) and seen(i.node)]
    return {
        "sources": shown_sources,
        "flows": [
            {"from": label(i.source), "to": label(i.node), "hops": i.hops, "path": [label(step) for step in i.path]}
            for i in shown_flows[:listed]
        ],
        "sourceCount": len(sources),
        "flowCount": len(flows),
        "hidden": {"sources": len(sources) - len(shown_sources), "flows": len(flows) - len(shown_flows)},
    }


def generate_report(*, start: datetime, end: datetime, fmt: str, user, request=None):
    """Render a period's report as `user` may see it, sign its exact bytes, keep the signature, record it.

    Returns (ComplianceReport row, content bytes, signature dict)."""
    from compliance import rendering, signing
    from compliance.models import ComplianceReport

    ensure_recent_checks()
    data = report_data(start=start, end=end, user=user)
    content = rendering.RENDERERS[fmt](data)
    signature = signing.sign(content)
    with transaction.atomic():
        report = ComplianceReport.objects.create(
            generated_by=user if getattr(user, "pk", None) else None,
            start=start,
            end=end,
            format=fmt,
            sha256=signature["sha256"],
            signature=signature["signature"],
            key_id=signature["keyId"],
            size=len(content),
        )
        record(
            "compliance.report_generated",
            actor=user,
            target=report,
            request=request,
            detail={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "format": fmt,
                "sha256": signature["sha256"],
                "scope": data["scope"],
            },
        )
    return report, content, signature


def record_download(*, report, file: str, user, request=None) -> None:
    """A report's bytes or its detached signature ("report" or "signature") leave the server."""
    record(
        "compliance.report_downloaded",
        actor=user,
        target=report,
        request=request,
        detail={
            "file": file,
            "start": report.start.isoformat(),
            "end": report.end.isoformat(),
            "format": report.format,
            "sha256": report.sha256,
        },
    )
