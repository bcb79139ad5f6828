"""The whole-graph lineage report, computed with networkx and cached in the database.

A report on a large graph takes seconds, so it is stored with the fingerprint of the graph it describes
(counts and highest ids of edges, datasets and jobs). A request gets the stored report when the fingerprint
still matches; otherwise the report is recomputed (by a worker when there is one, the stale report being served
meanwhile and marked so).
"""

import hashlib
import time
from typing import Any

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from governance.times import iso
from lineage.models import Dataset, Job, JobEdge, LineageReport
from lineage.read import graph
from lineage.read.identity import node_id

LISTED = 100  # orphaned datasets and cycles listed in full up to this many
TOP = 10  # critical paths listed


def scope_of(visible: set[int] | None) -> str:
    if visible is None:
        return "all"
    return hashlib.sha256(",".join(map(str, sorted(visible))).encode()).hexdigest()[:32]


def fingerprint() -> str:
    parts = []
    for model in (JobEdge, Dataset, Job):
        stats = model.objects.aggregate(count=Count("pk"), top=Max("pk"))
        parts.append(f"{stats['count']}:{stats['top'] or 0}")
    return "/".join(parts)


def compute(visible: set[int] | None) -> dict[str, Any]:
    datasets = Dataset.objects.all()
    jobs = Job.objects.all()
    edges = JobEdge.objects.all()
    if visible is not None:
        datasets = datasets.filter(namespace_id__in=visible)
        jobs = jobs.filter(namespace_id__in=visible)
        edges = edges.filter(dataset__namespace_id__in=visible, job__namespace_id__in=visible)
    nodes = [("dataset", pk) for pk in datasets.values_list("pk", flat=True).iterator(chunk_size=20000)]
    nodes += [("job", pk) for pk in jobs.values_list("pk", flat=True).iterator(chunk_size=20000)]
    pairs = [
        (("dataset", d), ("job", j)) if direction == "in" else (("job", j), ("dataset", d))
        for j, d, direction in edges.values_list("job_id", "dataset_id", "direction").iterator(chunk_size=20000)
    ]
    stats = graph.report(nodes, pairs, top=TOP, all_critical=True)
    del nodes, pairs

    named = {n for item in stats["criticalPaths"] for n in [item["node"]]}
    named |= set(stats["orphanedDatasets"][:LISTED])
    named |= {n for cycle in stats["cycles"] for n in cycle[:LISTED]}
    names = _names(named)
    # Equal out-degrees are ordered by name, so the ten listed do not depend on database ids.
    critical = sorted(((names[i["node"]], i["outDegree"]) for i in stats["criticalPaths"]), key=lambda i: (-i[1], i[0]))
    stats["criticalPaths"] = [{"node": name, "outDegree": degree} for name, degree in critical[:TOP]]
    orphans = stats["orphanedDatasets"]
    stats["orphanedDatasets"] = {"count": len(orphans), "datasets": sorted(names[n] for n in orphans[:LISTED])}
    stats["cycles"] = [[names[n] for n in cycle[:LISTED]] for cycle in stats["cycles"]]
    return stats


def _names(nodes) -> dict:
    datasets = {n[1] for n in nodes if n[0] == "dataset"}
    jobs = {n[1] for n in nodes if n[0] == "job"}
    names = {}
    for pk, namespace, name in Dataset.objects.filter(pk__in=datasets).values_list("pk", "namespace__name", "name"):
        names[("dataset", pk)] = node_id("dataset", namespace, name)
    for pk, namespace, name in Job.objects.filter(pk__in=jobs).values_list("pk", "namespace__name", "name"):
        names[("job", pk)] = node_id("job", namespace, name)
    return names


def refresh(visible: set[int] | None = None) -> LineageReport:
    current = fingerprint()
    started = time.perf_counter()
    data = compute(visible)
    report, _ = LineageReport.objects.update_or_create(
        scope=scope_of(visible),
        defaults={
            "fingerprint": current,
            "computed_at": timezone.now(),
            "seconds": round(time.perf_counter() - started, 3),
            "data": data,
        },
    )
    return report


def lineage_report(*, visible: set[int] | None = None) -> dict[str, Any]:
    report = LineageReport.objects.filter(scope=scope_of(visible)).first()
    stale = report is None or report.fingerprint != fingerprint()
    if stale and (report is None or settings.CELERY_TASK_ALWAYS_EAGER):
        report, stale = refresh(visible), False
    elif stale:
        from lineage.tasks import refresh_lineage_report

        refresh_lineage_report.delay(sorted(visible) if visible is not None else None)
    return {**report.data, "computedAt": iso(report.computed_at), "computeSeconds": report.seconds, "stale": stale}
