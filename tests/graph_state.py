"""The derived graph as plain data keyed by natural identities (no database ids), to compare two stores."""

import orjson

from governance.models import Namespace
from lineage.models import (
    ColumnLineage,
    Dataset,
    DatasetField,
    DatasetVersion,
    Job,
    JobEdge,
    JobVersion,
    Run,
    RunDataset,
)


def _j(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def snapshot() -> dict[str, list]:
    namespaces = dict(Namespace.objects.values_list("pk", "name"))
    datasets = {d.pk: (namespaces[d.namespace_id], d.name) for d in Dataset.objects.only("namespace_id", "name")}
    jobs = {j.pk: (namespaces[j.namespace_id], j.name) for j in Job.objects.only("namespace_id", "name")}
    runs = dict(Run.objects.values_list("pk", "run_id"))
    job_versions = dict(JobVersion.objects.values_list("pk", "version"))
    state = {
        "namespaces": [(n.name, n.created_at, n.updated_at) for n in Namespace.objects.all()],
        "datasets": [
            (
                datasets[d.pk],
                d.created_at,
                d.updated_at,
                _j(d.facets),
                _j(d.facet_stamps),
                d.description,
                d.dataset_type,
                d.source_name,
                d.source_uri,
                _j(d.fields),
                _j(d.owners),
                _j(d.tags),
                _j(d.symlinks),
                d.lifecycle_state,
                d.is_deleted,
            )
            for d in Dataset.objects.all()
        ],
        "fields": [
            (datasets[f.dataset_id], f.name, f.type, f.description, f.position) for f in DatasetField.objects.all()
        ],
        "dataset_versions": [
            (
                datasets[v.dataset_id],
                str(v.version),
                runs.get(v.run_id),
                v.created_at,
                v.updated_at,
                _j(v.facets),
                _j(v.fields),
                v.lifecycle_state,
            )
            for v in DatasetVersion.objects.all()
        ],
        "jobs": [
            (
                jobs[j.pk],
                j.created_at,
                j.updated_at,
                _j(j.facets),
                _j(j.facet_stamps),
                j.job_type,
                j.integration,
                j.processing_type,
                j.description,
                j.sql,
                j.source_code_location,
                _j(j.owners),
                jobs.get(j.parent_id),
                jobs.get(j.dag_id),
            )
            for j in Job.objects.all()
        ],
        "job_versions": [
            (jobs[v.job_id], str(v.version), v.created_at, v.updated_at, _j(v.inputs), _j(v.outputs))
            for v in JobVersion.objects.all()
        ],
        "runs": [
            (
                r.run_id,
                jobs[r.job_id],
                r.state,
                r.started_at,
                r.ended_at,
                r.created_at,
                r.updated_at,
                r.nominal_start_time,
                r.nominal_end_time,
                r.error_message,
                r.parent_run_id,
                _j(r.facets),
                str(job_versions.get(r.job_version_id)),
            )
            for r in Run.objects.all()
        ],
        "run_datasets": [
            (runs[u.run_id], datasets[u.dataset_id], u.direction, u.created_at, _j(u.facets))
            for u in RunDataset.objects.all()
        ],
        "job_edges": [
            (jobs[e.job_id], datasets[e.dataset_id], e.direction, e.first_seen, e.last_seen)
            for e in JobEdge.objects.all()
        ],
        "columns": [
            (
                datasets[c.output_dataset_id],
                c.output_field,
                datasets[c.input_dataset_id],
                c.input_field,
                _j(c.transformations),
                jobs.get(c.job_id),
                c.first_seen,
                c.last_seen,
            )
            for c in ColumnLineage.objects.all()
        ],
    }
    return {table: sorted(rows, key=repr) for table, rows in state.items()}
