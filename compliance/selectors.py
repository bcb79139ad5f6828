"""What classification propagation reads from the lineage store."""

from collections import defaultdict

from compliance.classification import Flows, Inferred, Node, propagate
from lineage.models import Annotation, ColumnLineage, Dataset, JobEdge


def normalise(classification: str) -> str:
    return classification.strip().upper()


def flows_for(datasets: set[int]) -> Flows:
    """The lineage leaving `datasets`: column edges from their fields, and the datasets their readers write."""
    columns = [
        (("field", (i_ds, i_f)), ("field", (o_ds, o_f)))
        for i_ds, i_f, o_ds, o_f in ColumnLineage.objects.filter(input_dataset_id__in=datasets)
        .exclude(output_field="")
        .values_list("input_dataset_id", "input_field", "output_dataset_id", "output_field")
    ]
    readers = defaultdict(set)
    for job_id, dataset_id in JobEdge.objects.filter(direction="in", dataset_id__in=datasets).values_list(
        "job_id", "dataset_id"
    ):
        readers[job_id].add(dataset_id)
    pairs = []
    for job_id, written in JobEdge.objects.filter(direction="out", job_id__in=readers).values_list(
        "job_id", "dataset_id"
    ):
        pairs += [(read, written) for read in readers[job_id] if read != written]
    return Flows.build(columns, pairs)


def classified_sources(classification: str | None = None) -> list[tuple[Node, str]]:
    """Every (node, classification) a steward or a producer declared: annotations and the `tags` facet."""
    wanted = normalise(classification) if classification else None
    sources: set[tuple[Node, str]] = set()
    datasets = {(ns, name): pk for pk, ns, name in Dataset.objects.values_list("pk", "namespace__name", "name")}
    for annotation in Annotation.objects.filter(kind="dataset"):
        pk = datasets.get((annotation.namespace, annotation.name))
        if pk is None:
            continue
        for label in annotation.classifications:
            sources.add((("dataset", pk), normalise(label)))
        for field, spec in (annotation.fields or {}).items():
            for label in spec.get("classifications") or []:
                sources.add((("field", (pk, field)), normalise(label)))
    for pk, tags in Dataset.objects.exclude(tags=[]).values_list("pk", "tags"):
        for tag in tags or []:
            if tag.get("field"):
                sources.add((("field", (pk, tag["field"])), normalise(tag["key"])))
            else:
                sources.add((("dataset", pk), normalise(tag["key"])))
    return sorted((s for s in sources if wanted is None or s[1] == wanted), key=repr)


def inferred(classification: str | None = None, *, sources=None) -> list[Inferred]:
    return propagate(sources if sources is not None else classified_sources(classification), flows_for=flows_for)
