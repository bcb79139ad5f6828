"""Deriving the lineage graph from raw events, in batches.

Raw events wait in `DeriveQueue`. A deriver claims a batch (skipping rows another deriver holds), folds the
batch into a `Delta` (`lineage.derive.fold`), joins it into the stored rows and removes the batch from the queue,
all in one transaction. Rows are created first (insert, ignoring conflicts), then locked and merged, table by
table in a fixed order and sorted by key, so concurrent derivers serialise on shared rows instead of
duplicating them; a deadlock, should one still happen, rolls back the batch and it is tried again.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import psycopg
from django.db import connection
from django.db.models import Max, Min

from governance.models import NAME_MAX, Namespace
from lineage import openlineage as ol
from lineage.derive.fold import (
    Delta,
    Facets,
    JobState,
    NodeState,
    RunState,
    Span,
    UseState,
    VersionState,
)
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

log = logging.getLogger(__name__)

DATASET_ATTRIBUTES = list(ol.dataset_attributes({}))
JOB_ATTRIBUTES = list(ol.job_attributes({}))
RUN_ATTRIBUTES = list(ol.run_attributes({}))


# --- Joining a delta into the stored rows ----------------------------------------------------------------


def _facets_of(row) -> Facets:
    return Facets(dict(row.facets), dict(row.facet_stamps))


def _merge_rows(
    model,
    items: dict,
    *,
    candidates: Callable[[list], Any],
    lookup: tuple[tuple[str, ...], Callable[[Any], tuple]],
    key_of: Callable[[Any], Any],
    stub: Callable[[Any, Any], Any],
    merge: Callable[[Any, Any], bool],
    fields: list[str],
    premerge: bool = False,
) -> dict:
    """Create missing rows, lock and merge every row of `items`; returns {key: row}.

    `merge(row, state)` joins the delta state into the row and says whether the row changed. `lookup` names the
    fields of the unique key and maps a key to their values: on PostgreSQL the rows are found (and locked) by
    exactly those keys; elsewhere `candidates(keys)`, a wider filter, is narrowed by `key_of`.

    `premerge`: a new row is inserted already merged, so it needs no update after (merges are idempotent: joining
    the same state again changes nothing). Only for merges without side effects outside the row.
    """
    if not items:
        return {}
    keys = sorted(items)
    stubs = [stub(key, items[key]) for key in keys]
    if premerge:
        for row, key in zip(stubs, keys, strict=True):
            merge(row, items[key])
    rows = {}
    if connection.vendor == "postgresql":
        # New rows are the stubs themselves; only the rows that existed are read back, and locked.
        inserted = _insert_missing(model, stubs, lookup[0])
        existing = []
        for key, row in zip(keys, stubs, strict=True):
            pk = inserted.get(lookup[1](key))
            if pk is None:
                existing.append(key)
            else:
                row.pk = pk
                row._state.adding = False
                rows[key] = row
        found = _locked_by_key(model, lookup[0], [lookup[1](key) for key in existing]) if existing else []
    else:
        model.objects.bulk_create(stubs, ignore_conflicts=True, batch_size=500)
        found = candidates(keys).select_for_update().order_by("pk")
    wanted = set(keys)
    for row in found:
        key = key_of(row)
        if key in wanted:
            rows[key] = row
    changed = [rows[key] for key in keys if merge(rows[key], items[key])]
    if changed:
        bulk_update(model, changed, fields)
    return rows


# --- Set-based statements on PostgreSQL: a parameter per column (an array), not per value ---------------------
#
# Django's bulk_update builds a CASE WHEN per field with a branch per row (quadratic for Python and the database)
# and bulk_create and the locking SELECT a placeholder per value, which psycopg has to split and quote on the
# client. Here every column travels as one array parameter bound on the server, and rows are joined with
# unnest(): the statements stay short whatever the batch size. Other databases (SQLite) use the ORM.


def _array_type(column) -> str:
    return "text[]" if column.get_internal_type() == "JSONField" else f"{column.db_type(connection)}[]"


def _select(column, alias: str) -> str:
    name = f"{alias}.{connection.ops.quote_name(column.column)}"
    return f"{name}::jsonb" if column.get_internal_type() == "JSONField" else name


def _arrays(columns: list, rows: list, values=None) -> list[list]:
    """One list per column: the rows' values (`values(row)` gives them as a tuple, default the attributes)."""
    arrays = []
    for index, column in enumerate(columns):
        kind = column.get_internal_type()
        if values is not None:
            items = [value[index] for value in values]
        else:
            items = [getattr(row, column.attname) for row in rows]
        if kind == "JSONField":
            items = [orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS).decode() for item in items]
        elif kind == "UUIDField":
            items = [None if item is None else str(item) for item in items]
        arrays.append(items)
    return arrays


def _unnest(columns: list) -> str:
    names = ", ".join(connection.ops.quote_name(column.column) for column in columns)
    casts = ", ".join(f"%b::{_array_type(column)}" for column in columns)
    return f"unnest({casts}) AS v ({names})"


def _cursor() -> psycopg.Cursor:
    """A cursor binding parameters on the server, in the ORM's current transaction."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _insert_missing(model, rows: list, key: tuple[str, ...]) -> dict[tuple, int]:
    """INSERT the rows, skipping those whose unique key already exists; returns {key values: id} of the rows
    inserted (this transaction's own: no other can see, let alone lock, them)."""
    meta, quote = model._meta, connection.ops.quote_name
    columns = [field for field in meta.concrete_fields if not field.primary_key]
    names = ", ".join(quote(column.column) for column in columns)
    select = ", ".join(_select(column, "v") for column in columns)
    returning = ", ".join(quote(meta.get_field(name).column) for name in key)
    with _cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT {select} FROM {_unnest(columns)} "
            f"ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}, {returning}",
            _arrays(columns, rows),
        )
        return {tuple(_plain(value) for value in values): pk for pk, *values in cursor}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _locked_by_key(model, fields: tuple[str, ...], values: list[tuple]) -> list:
    """The rows whose `fields` equal one of `values`, locked, in primary key order."""
    meta, quote = model._meta, connection.ops.quote_name
    keys = [meta.get_field(name) for name in fields]
    on = " AND ".join(f"t.{quote(key.column)} = v.{quote(key.column)}" for key in keys)
    columns = meta.concrete_fields
    json_columns = [i for i, column in enumerate(columns) if column.get_internal_type() == "JSONField"]
    attnames = [column.attname for column in columns]
    db = connection.alias
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(f't.{quote(column.column)}' for column in columns)} FROM {quote(meta.db_table)} t "
            f"JOIN {_unnest(keys)} ON {on} ORDER BY t.{quote(meta.pk.column)} FOR UPDATE OF t",
            _arrays(keys, [], values),
        )
        found = []
        for record in cursor:
            record = list(record)
            for i in json_columns:
                if isinstance(record[i], str | bytes):
                    record[i] = orjson.loads(record[i])
            found.append(model.from_db(db, attnames, record))
    return found


def bulk_update(model, rows: list, fields: list[str]) -> None:
    """Write `fields` of `rows` back, by primary key."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields, batch_size=250)
        return
    meta, quote = model._meta, connection.ops.quote_name
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    assignments = ", ".join(f"{quote(column.column)} = {_select(column, 'v')}" for column in columns[1:])
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    with _cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM {_unnest(columns)} WHERE {table}.{pk} = v.{pk}",
            _arrays(columns, rows),
        )


def _upsert(model, values: dict[str, list], key: tuple[str, ...], updates: dict[str, str]) -> None:
    """INSERT rows given column-wise (field name -> one value per row, in the order rows are to be locked);
    where the key exists, SET each field of `updates` to its SQL expression of the stored row `t` and the
    proposed one `EXCLUDED`. Joins as plain as min, max and latest-stamp-wins need no round trip through Python,
    nor model instances: one statement, which takes the row locks in the rows' order."""
    meta, quote = model._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in values]
    names = ", ".join(quote(column.column) for column in columns)
    select = ", ".join(_select(column, "v") for column in columns)
    target = ", ".join(quote(meta.get_field(name).column) for name in key)
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = {sql}" for name, sql in updates.items())
    with _cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} AS t ({names}) SELECT {select} FROM {_unnest(columns)} "
            f"ON CONFLICT ({target}) DO UPDATE SET {assignments}",
            _arrays(columns, [], list(zip(*values.values(), strict=True))),
        )


def _merge_node(row, state: NodeState) -> bool:
    """Join span and facets; True when something changed."""
    span = Span(row.created_at, row.updated_at)
    facets = _facets_of(row)
    before = (span.first, span.last, dict(facets.stamps))
    span.join(state.span)
    facets.join(state.facets)
    if (span.first, span.last, facets.stamps) == before:
        return False
    row.created_at, row.updated_at = span.first, span.last
    row.facets, row.facet_stamps = facets.values, facets.stamps
    return True


def apply_delta(delta: Delta) -> None:
    namespaces = _merge_namespaces(delta)
    datasets = _merge_datasets(delta, namespaces)
    jobs, reparented = _merge_jobs(delta, namespaces)
    runs = _merge_runs(delta, jobs)
    _merge_run_datasets(delta, runs, datasets)
    _merge_job_edges(delta, jobs, datasets)
    _merge_versions(delta, datasets, runs)
    _merge_columns(delta, datasets, jobs)
    _assign_job_versions(runs, jobs)
    _assign_dags(reparented)


def _merge_namespaces(delta: Delta) -> dict[str, Namespace]:
    def merge(row: Namespace, span: Span) -> bool:
        merged = Span(row.created_at, row.updated_at)
        merged.join(span)
        if (merged.first, merged.last) == (row.created_at, row.updated_at):
            return False
        row.created_at, row.updated_at = merged.first, merged.last
        return True

    return _merge_rows(
        Namespace,
        delta.namespaces,
        candidates=lambda keys: Namespace.objects.filter(name__in=keys),
        lookup=(("name",), lambda key: (key,)),
        key_of=lambda row: row.name,
        stub=lambda key, span: Namespace(name=key, created_at=span.first, updated_at=span.last),
        merge=merge,
        fields=["created_at", "updated_at"],
    )


def _merge_datasets(delta: Delta, namespaces: dict[str, Namespace]) -> dict:
    ids = {name: ns.pk for name, ns in namespaces.items()}
    by_id = {ns.pk: ns.name for ns in namespaces.values()}
    schema_changed: list[Dataset] = []

    def merge(row: Dataset, state: NodeState) -> bool:
        if not _merge_node(row, state):
            return False
        old_fields = row.fields
        for attribute, value in ol.dataset_attributes(row.facets).items():
            setattr(row, attribute, value)
        if row.fields != old_fields:
            schema_changed.append(row)
        return True

    rows = _merge_rows(
        Dataset,
        delta.datasets,
        candidates=lambda keys: Dataset.objects.filter(
            namespace_id__in={ids[k[0]] for k in keys}, name__in={k[1] for k in keys}
        ),
        lookup=(("namespace", "name"), lambda key: (ids[key[0]], key[1])),
        key_of=lambda row: (by_id.get(row.namespace_id, ""), row.name),
        stub=lambda key, state: Dataset(
            namespace_id=ids[key[0]], name=key[1], created_at=state.span.first, updated_at=state.span.last
        ),
        merge=merge,
        fields=["created_at", "updated_at", "facets", "facet_stamps", *DATASET_ATTRIBUTES],
    )
    _refresh_fields(schema_changed)
    return rows


def _refresh_fields(datasets: list[Dataset]) -> None:
    """Rewrite the current-schema columns of datasets whose schema changed."""
    if not datasets:
        return
    DatasetField.objects.filter(dataset_id__in=[d.pk for d in datasets]).delete()
    fresh = []
    for dataset in datasets:
        seen = set()
        for position, item in enumerate(ol.flatten_fields(dataset.fields)):
            if item["name"] in seen:
                continue
            seen.add(item["name"])
            fresh.append(
                DatasetField(
                    dataset_id=dataset.pk,
                    name=item["name"][:NAME_MAX],
                    type=item["type"][:255],
                    description=item["description"],
                    position=position,
                )
            )
    DatasetField.objects.bulk_create(fresh, batch_size=1000)


def _merge_jobs(delta: Delta, namespaces: dict[str, Namespace]) -> tuple[dict, list[Job]]:
    """Merge jobs; returns the rows and the jobs whose DAG grouping may have changed."""
    ids = {name: ns.pk for name, ns in namespaces.items()}
    by_id = {ns.pk: ns.name for ns in namespaces.values()}
    new_parents: dict[int, tuple[str, str] | None] = {}
    retyped: list[Job] = []

    def merge(row: Job, state: JobState) -> bool:
        changed = _merge_node(row, state)
        if changed:
            old_type = row.job_type
            for attribute, value in ol.job_attributes(row.facets).items():
                setattr(row, attribute, value)
            if row.job_type != old_type:
                retyped.append(row)
        if state.parent_stamp > row.parent_stamp:
            row.parent_stamp = state.parent_stamp
            new_parents[row.pk] = state.parent
            changed = True
        return changed

    rows = _merge_rows(
        Job,
        delta.jobs,
        candidates=lambda keys: Job.objects.filter(
            namespace_id__in={ids[k[0]] for k in keys}, name__in={k[1] for k in keys}
        ),
        lookup=(("namespace", "name"), lambda key: (ids[key[0]], key[1])),
        key_of=lambda row: (by_id.get(row.namespace_id, ""), row.name),
        stub=lambda key, state: Job(
            namespace_id=ids[key[0]], name=key[1], created_at=state.span.first, updated_at=state.span.last
        ),
        merge=merge,
        fields=["created_at", "updated_at", "facets", "facet_stamps", "parent_stamp", *JOB_ATTRIBUTES],
    )
    # Parents are resolved once every job of the batch, parents included, has a row.
    reparented = []
    for row in rows.values():
        if row.pk not in new_parents:
            continue
        parent = new_parents[row.pk]
        parent_id = rows[parent].pk if parent is not None else None
        if parent_id == row.pk:
            parent_id = None
        if parent_id != row.parent_id:
            row.parent_id = parent_id
            reparented.append(row)
    if reparented:
        bulk_update(Job, reparented, ["parent"])
    return rows, reparented + retyped


def _merge_runs(delta: Delta, jobs: dict) -> dict:
    job_keys = {job.pk: key for key, job in jobs.items()}

    def merge(row: Run, state: RunState) -> bool:
        if not set(row.job_namespaces) <= state.claims:
            raise StaleClaims(row.run_id)
        if not row.job_stamp and row.pk is not None:
            if state.job_stamp:
                # A stored run only claims made takes no contribution: it is derived again (`_run_claims`),
                # which this batch, not knowing of it, did not do.
                raise StaleClaims(row.run_id)
            return _merge_claims(row, state)
        changed = _merge_node(row, state)
        if changed:
            for attribute, value in ol.run_attributes(row.facets).items():
                setattr(row, attribute, value)
        started = row.started_at if state.started_at is None else min(filter(None, (row.started_at, state.started_at)))
        if started != row.started_at:
            row.started_at, changed = started, True
        if state.state_key > row.state_key:
            row.state, row.state_key, row.ended_at = state.state, state.state_key, state.ended_at
            changed = True
        if state.job_stamp > row.job_stamp:
            row.job_id, row.job_stamp = jobs[state.job].pk, state.job_stamp
            changed = True
        claims = sorted(set(row.job_namespaces) | state.claims)
        if claims != row.job_namespaces:
            row.job_namespaces, changed = claims, True
        return changed

    def _merge_claims(row: Run, state: RunState) -> bool:
        """A run no event contributes to: when it was claimed, and its first claiming job by name."""
        span = Span(row.created_at, row.updated_at)
        span.join(state.claimed)
        changed = (span.first, span.last) != (row.created_at, row.updated_at)
        row.created_at, row.updated_at = span.first, span.last
        claimant = jobs[state.claimant]
        if claimant.pk != row.job_id:
            stored = job_keys.get(row.job_id)
            if stored is None:
                stored = Job.objects.filter(pk=row.job_id).values_list("namespace__name", "name").first()
            if stored is None or state.claimant < tuple(stored):
                row.job_id, changed = claimant.pk, True
        claims = sorted(set(row.job_namespaces) | state.claims)
        if claims != row.job_namespaces:
            row.job_namespaces, changed = claims, True
        return changed

    return _merge_rows(
        Run,
        delta.runs,
        candidates=lambda keys: Run.objects.filter(run_id__in=keys),
        lookup=(("run_id",), lambda key: (key,)),
        key_of=lambda row: row.run_id,
        stub=lambda key, state: Run(
            run_id=key,
            # A run no event contributes to still has a row, under its first claiming job by name.
            job_id=jobs[state.job or state.claimant].pk,
            created_at=state.span.first or state.claimed.first,
            updated_at=state.span.last or state.claimed.last,
        ),
        merge=merge,
        fields=[
            "created_at",
            "updated_at",
            "facets",
            "facet_stamps",
            "job",
            "job_stamp",
            "job_namespaces",
            "state",
            "state_key",
            "started_at",
            "ended_at",
            *RUN_ATTRIBUTES,
        ],
        premerge=True,
    )


def _merge_run_datasets(delta: Delta, runs: dict, datasets: dict) -> None:
    items = {
        (runs[run_id].pk, datasets[dataset].pk, direction): state
        for (run_id, dataset, direction), state in delta.run_datasets.items()
    }

    def merge(row: RunDataset, state: UseState) -> bool:
        facets = _facets_of(row)
        before = (row.created_at, dict(facets.stamps))
        facets.join(state.facets)
        first = min(row.created_at, state.first)
        if (first, facets.stamps) == before:
            return False
        row.created_at, row.facets, row.facet_stamps = first, facets.values, facets.stamps
        return True

    _merge_rows(
        RunDataset,
        items,
        candidates=lambda keys: RunDataset.objects.filter(
            run_id__in={k[0] for k in keys}, dataset_id__in={k[1] for k in keys}
        ),
        lookup=(("run", "dataset", "direction"), lambda key: key),
        key_of=lambda row: (row.run_id, row.dataset_id, row.direction),
        stub=lambda key, state: RunDataset(run_id=key[0], dataset_id=key[1], direction=key[2], created_at=state.first),
        merge=merge,
        fields=["created_at", "facets", "facet_stamps"],
        premerge=True,
    )


def _merge_job_edges(delta: Delta, jobs: dict, datasets: dict) -> None:
    items = {
        (jobs[job].pk, datasets[dataset].pk, direction): span
        for (job, dataset, direction), span in delta.job_edges.items()
    }

    def merge(row: JobEdge, span: Span) -> bool:
        merged = Span(row.first_seen, row.last_seen)
        merged.join(span)
        if (merged.first, merged.last) == (row.first_seen, row.last_seen):
            return False
        row.first_seen, row.last_seen = merged.first, merged.last
        return True

    if connection.vendor == "postgresql":
        keys = sorted(items)
        values = {
            "job": [k[0] for k in keys],
            "dataset": [k[1] for k in keys],
            "direction": [k[2] for k in keys],
            "first_seen": [items[k].first for k in keys],
            "last_seen": [items[k].last for k in keys],
        }
        spans = {"first_seen": "LEAST(t.first_seen, EXCLUDED.first_seen)"}
        spans["last_seen"] = "GREATEST(t.last_seen, EXCLUDED.last_seen)"
        _upsert(JobEdge, values, ("job", "dataset", "direction"), spans)
        return
    _merge_rows(
        JobEdge,
        items,
        candidates=lambda keys: JobEdge.objects.filter(
            job_id__in={k[0] for k in keys}, dataset_id__in={k[1] for k in keys}
        ),
        lookup=(("job", "dataset", "direction"), lambda key: key),
        key_of=lambda row: (row.job_id, row.dataset_id, row.direction),
        stub=lambda key, span: JobEdge(
            job_id=key[0], dataset_id=key[1], direction=key[2], first_seen=span.first, last_seen=span.last
        ),
        merge=merge,
        fields=["first_seen", "last_seen"],
    )


def _merge_versions(delta: Delta, datasets: dict, runs: dict) -> None:
    items = {(datasets[dataset].pk, version): state for (dataset, version), state in delta.versions.items()}

    def merge(row: DatasetVersion, state: VersionState) -> bool:
        if not _merge_node(row, state):
            return False
        row.fields = ol.schema_fields(row.facets)
        row.lifecycle_state = ol.dataset_attributes(row.facets)["lifecycle_state"]
        return True

    _merge_rows(
        DatasetVersion,
        items,
        candidates=lambda keys: DatasetVersion.objects.filter(
            dataset_id__in={k[0] for k in keys}, version__in={k[1] for k in keys}
        ),
        lookup=(("dataset", "version"), lambda key: key),
        key_of=lambda row: (row.dataset_id, str(row.version)),
        stub=lambda key, state: DatasetVersion(
            dataset_id=key[0],
            version=key[1],
            run_id=runs[state.run_id].pk if state.run_id else None,
            created_at=state.span.first,
            updated_at=state.span.last,
        ),
        merge=merge,
        fields=["created_at", "updated_at", "facets", "facet_stamps", "fields", "lifecycle_state"],
        premerge=True,
    )


def _merge_columns(delta: Delta, datasets: dict, jobs: dict) -> None:
    items = {
        (datasets[out].pk, out_field, datasets[inp].pk, in_field): state
        for (out, out_field, inp, in_field), state in delta.columns.items()
    }

    def merge(row: ColumnLineage, state) -> bool:
        span = Span(row.first_seen, row.last_seen)
        span.join(state.span)
        changed = (span.first, span.last) != (row.first_seen, row.last_seen)
        row.first_seen, row.last_seen = span.first, span.last
        if state.stamp > row.stamp:
            row.stamp, row.transformations = state.stamp, state.transformations
            row.job_id = jobs[state.job].pk if state.job else None
            changed = True
        return changed

    if connection.vendor == "postgresql":
        keys = sorted(items)
        states = [items[k] for k in keys]
        values = {
            "output_dataset": [k[0] for k in keys],
            "output_field": [k[1] for k in keys],
            "input_dataset": [k[2] for k in keys],
            "input_field": [k[3] for k in keys],
            "first_seen": [state.span.first for state in states],
            "last_seen": [state.span.last for state in states],
            "stamp": [state.stamp for state in states],
            "transformations": [state.transformations for state in states],
            "job": [jobs[state.job].pk if state.job else None for state in states],
        }
        # Stamps compare as Python compares them, byte by byte, whatever the database's collation.
        newer = 'EXCLUDED.stamp COLLATE "C" > t.stamp COLLATE "C"'
        _upsert(
            ColumnLineage,
            values,
            ("output_dataset", "output_field", "input_dataset", "input_field"),
            {
                "first_seen": "LEAST(t.first_seen, EXCLUDED.first_seen)",
                "last_seen": "GREATEST(t.last_seen, EXCLUDED.last_seen)",
                "stamp": f"CASE WHEN {newer} THEN EXCLUDED.stamp ELSE t.stamp END",
                "transformations": f"CASE WHEN {newer} THEN EXCLUDED.transformations ELSE t.transformations END",
                "job": f"CASE WHEN {newer} THEN EXCLUDED.job_id ELSE t.job_id END",
            },
        )
        return
    _merge_rows(
        ColumnLineage,
        items,
        candidates=lambda keys: ColumnLineage.objects.filter(
            output_dataset_id__in={k[0] for k in keys}, input_dataset_id__in={k[2] for k in keys}
        ),
        lookup=(("output_dataset", "output_field", "input_dataset", "input_field"), lambda key: key),
        key_of=lambda row: (row.output_dataset_id, row.output_field, row.input_dataset_id, row.input_field),
        stub=lambda key, state: ColumnLineage(
            output_dataset_id=key[0],
            output_field=key[1],
            input_dataset_id=key[2],
            input_field=key[3],
            first_seen=state.span.first,
            last_seen=state.span.last,
            stamp="",
        ),
        merge=merge,
        fields=["first_seen", "last_seen", "stamp", "transformations", "job"],
    )


def _assign_job_versions(runs: dict, jobs: dict) -> None:
    """Point each touched run at the job version its inputs and outputs make (Marquez's rule)."""
    if not runs:
        return
    run_rows = {row.pk: row for row in runs.values()}
    io = defaultdict(lambda: {"in": set(), "out": set()})
    for run_pk, direction, namespace, name in RunDataset.objects.filter(run_id__in=run_rows).values_list(
        "run_id", "direction", "dataset__namespace__name", "dataset__name"
    ):
        io[run_pk][direction].add((namespace, name))
    job_rows = {row.pk: row for row in jobs.values()}
    missing = {row.job_id for row in run_rows.values()} - set(job_rows)
    job_rows.update({row.pk: row for row in Job.objects.filter(pk__in=missing)})
    namespace_names = dict(
        Namespace.objects.filter(pk__in={j.namespace_id for j in job_rows.values()}).values_list("pk", "name")
    )

    wanted: dict[tuple[int, str], JobVersion] = {}
    run_version: dict[int, tuple[int, str]] = {}
    for run_pk, run in run_rows.items():
        job = job_rows[run.job_id]
        inputs, outputs = sorted(io[run_pk]["in"]), sorted(io[run_pk]["out"])
        namespace = namespace_names[job.namespace_id]
        version = str(ol.job_version_id(namespace, job.name, inputs, outputs))
        run_version[run_pk] = (job.pk, version)
        wanted[(job.pk, version)] = JobVersion(
            job_id=job.pk,
            version=version,
            created_at=run.created_at,
            updated_at=run.updated_at,
            inputs=[{"namespace": ns, "name": n} for ns, n in inputs],
            outputs=[{"namespace": ns, "name": n} for ns, n in outputs],
        )
    if connection.vendor == "postgresql":
        keys = sorted(wanted)
        inserted = _insert_missing(JobVersion, [wanted[key] for key in keys], ("job", "version"))
        versions, existing = {}, []
        for key in keys:
            if key in inserted:
                versions[key] = wanted[key]
                versions[key].pk, versions[key]._state.adding = inserted[key], False
            else:
                existing.append(key)
        for row in _locked_by_key(JobVersion, ("job", "version"), existing) if existing else []:
            versions[(row.job_id, str(row.version))] = row
    else:
        JobVersion.objects.bulk_create([wanted[key] for key in sorted(wanted)], ignore_conflicts=True)
        versions = {
            (row.job_id, str(row.version)): row
            for row in JobVersion.objects.filter(
                job_id__in={key[0] for key in wanted}, version__in={key[1] for key in wanted}
            )
            .select_for_update()
            .order_by("pk")
        }
    affected, moved = set(), []
    for run_pk, key in run_version.items():
        run, version = run_rows[run_pk], versions[key]
        affected.add(version.pk)
        if run.job_version_id != version.pk:
            if run.job_version_id is not None:
                affected.add(run.job_version_id)
            run.job_version_id = version.pk
            moved.append(run)
    if moved:
        bulk_update(Run, moved, ["job_version"])
    # A version's times are those of the runs that have it now; a version no run has any more is gone.
    spans = {
        row["job_version"]: (row["first"], row["last"])
        for row in Run.objects.filter(job_version_id__in=affected)
        .values("job_version")
        .annotate(first=Min("created_at"), last=Max("updated_at"))
    }
    touched = []
    for row in versions.values():
        span = spans.get(row.pk)
        if span is not None and (row.created_at, row.updated_at) != span:
            row.created_at, row.updated_at = span
            touched.append(row)
    if touched:
        bulk_update(JobVersion, touched, ["created_at", "updated_at"])
    JobVersion.objects.filter(pk__in=affected - set(spans)).delete()


def _assign_dags(changed: Iterable[Job]) -> None:
    """Recompute the DAG grouping of jobs whose parent or type changed, and of everything below them."""
    frontier = {job.pk for job in changed}
    if not frontier:
        return
    # The affected jobs: the changed ones and their descendants.
    affected: set[int] = set()
    while frontier:
        affected |= frontier
        frontier = set(Job.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - affected
    # Their ancestors, loaded level by level, to walk up in memory.
    nodes: dict[int, tuple[str, int | None, int | None]] = {}
    wanted = set(affected)
    while wanted:
        for pk, job_type, parent_id, dag_id in Job.objects.filter(pk__in=wanted).values_list(
            "pk", "job_type", "parent_id", "dag_id"
        ):
            nodes[pk] = (job_type, parent_id, dag_id)
        wanted = {parent for _, parent, _ in nodes.values() if parent is not None} - set(nodes)
    tree = {pk: (job_type, parent_id) for pk, (job_type, parent_id, _) in nodes.items()}
    updates = defaultdict(list)
    for pk in sorted(affected):
        dag_id = dag_of(pk, tree)
        if dag_id != nodes[pk][2]:
            updates[dag_id].append(pk)
    for dag_id, pks in updates.items():
        Job.objects.filter(pk__in=pks).update(dag_id=dag_id)


def dag_of(pk: int, nodes: dict[int, tuple[str, int | None]]) -> int | None:
    """Nearest ancestor-or-self of type DAG; else the top ancestor; None for a lone job that is not a DAG."""
    current, visited = pk, {pk}
    while True:
        job_type, parent_id = nodes[current]
        if job_type == "DAG":
            return current
        if parent_id is None or parent_id in visited or parent_id not in nodes:
            return current if current != pk else None
        visited.add(parent_id)
        current = parent_id


class StaleClaims(Exception):
    """A run was claimed by another namespace (a concurrent batch) after this batch read its claims."""
