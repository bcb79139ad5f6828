"""The lineage queries: a directed walk in one recursive SQL query, and the node data of its answer.

The walk runs over `JobEdge` (one row per job, dataset and direction, however many runs) and steps two edges at
a time, dataset -> job -> dataset, keeping only (dataset, depth) pairs so a dataset reached by many paths is
expanded once per depth, not once per path. Jobs are then the producers (upstream) or consumers (downstream) of
the datasets found. Cost follows the size of the answer: each step is an index lookup per frontier dataset.

`view=latest` walks the edges of each job's latest completed run (as of `as_of`) instead; `as_of` alone keeps the
edges first seen by then. The semantics are those of `lineage.read.graph.walk`, which the tests use as the oracle.
"""

import gc
import json
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import Q

from governance.models import Namespace
from lineage.models import ColumnLineage, Dataset, Job, JobEdge, Run, RunDataset
from lineage.read.graph import BOTH, DOWN, UP, Edge, Node, Subgraph

CUMULATIVE, LATEST = "cumulative", "latest"


@dataclass(frozen=True)
class Query:
    start: Node  # ("dataset", id) or ("job", id)
    depth: int = 20
    direction: str = BOTH
    as_of: datetime | None = None
    view: str = CUMULATIVE
    visible_namespaces: frozenset[int] | None = None  # None: all


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "edge": quote(JobEdge._meta.db_table),
        "use": quote(RunDataset._meta.db_table),
        "run": quote(Run._meta.db_table),
        "dataset": quote(Dataset._meta.db_table),
        "job": quote(Job._meta.db_table),
        "namespace": quote(Namespace._meta.db_table),
    }


@contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector while a large answer is built.

    An answer of 25,000 nodes allocates about a million small dicts, lists and tuples, all freed by reference
    counting; meanwhile every generation-2 collection the allocations trigger rescans all of them, which cost a
    third of the time. Whatever cycles there are get collected at the next collection after the block.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def ids_in(column: str, ids) -> tuple[str, list]:
    """`column` in a list of ids, as one parameter whatever the list's length."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(ids)]


def _latest_run(job_column: str, as_of: datetime | None, t: dict) -> tuple[str, list]:
    """The id of a job's latest completed run (as of a time), as a correlated subquery."""
    sql = f"(SELECT r.id FROM {t['run']} r WHERE r.job_id = {job_column} AND r.state = 'COMPLETED'"
    params: list = []
    if as_of is not None:
        sql += " AND r.ended_at <= %s"
        params.append(as_of)
    return sql + " ORDER BY r.ended_at DESC, r.id DESC LIMIT 1)", params


def _walk_sql(query: Query, direction: str) -> tuple[str, list]:
    """SQL returning (kind, id, depth) of every node reached in one direction."""
    t = _tables()
    # Upstream: from a dataset to the jobs that write it ('out'), then to what those jobs read ('in').
    toward, onward = ("out", "in") if direction == UP else ("in", "out")
    kind, start_id = query.start
    params: list = []
    visible = query.visible_namespaces

    def only_visible(table: str, alias: str, id_column: str) -> str:
        """A join that keeps rows whose node is in a visible namespace (a restricted node is not walked through)."""
        if visible is None:
            return ""
        clause, clause_params = ids_in(f"{alias}.namespace_id", sorted(visible))
        params.extend(clause_params)
        return f" JOIN {t[table]} {alias} ON {alias}.id = {id_column} AND {clause}"

    def edge_filter(alias: str) -> str:
        if query.as_of is None or query.view == LATEST:
            return ""
        params.append(query.as_of)
        return f" AND {alias}.first_seen <= %s"

    # The seed: the start dataset at depth 0, or the datasets a start job reads/writes at depth 1.
    if kind == "dataset":
        seed = "SELECT CAST(%s AS BIGINT) AS dataset_id, 0 AS depth"
        params.append(start_id)
    elif query.view == LATEST:
        latest, latest_params = _latest_run("%s", query.as_of, t)
        seed = (
            f"SELECT u.dataset_id AS dataset_id, 1 AS depth FROM {t['use']} u "
            f"WHERE u.run_id = {latest} AND u.direction = '{onward}' AND 1 <= %s"
        )
        params += [start_id, *latest_params, query.depth]
    else:
        seed = (
            f"SELECT e.dataset_id AS dataset_id, 1 AS depth FROM {t['edge']} e "
            f"WHERE e.job_id = %s AND e.direction = '{onward}'"
        )
        params.append(start_id)
        seed += edge_filter("e") + " AND 1 <= %s"
        params.append(query.depth)

    if query.view == LATEST:
        latest, latest_params = _latest_run("o.job_id", query.as_of, t)
        step = f"SELECT i.dataset_id, w.depth + 2 FROM walk w{only_visible('dataset', 'wd', 'w.dataset_id')} "
        step += f"JOIN {t['edge']} o ON o.dataset_id = w.dataset_id AND o.direction = '{toward}'"
        step += only_visible("job", "oj", "o.job_id")
        step += (
            f" JOIN {t['use']} p ON p.run_id = {latest} AND p.dataset_id = o.dataset_id AND p.direction = '{toward}' "
            f"JOIN {t['use']} i ON i.run_id = p.run_id AND i.direction = '{onward}' "
            f"WHERE w.depth + 2 <= %s"
        )
        params += [*latest_params, query.depth]
        step_params, params = params, []
        latest_j, latest_j_params = _latest_run("o.job_id", query.as_of, t)
        jobs = f"SELECT 'job', o.job_id, MIN(w.depth + 1) FROM walk w{only_visible('dataset', 'wd', 'w.dataset_id')} "
        jobs += (
            f"JOIN {t['edge']} o ON o.dataset_id = w.dataset_id AND o.direction = '{toward}' "
            f"JOIN {t['use']} p ON p.run_id = {latest_j} AND p.dataset_id = o.dataset_id "
            f"AND p.direction = '{toward}' WHERE w.depth + 1 <= %s GROUP BY o.job_id"
        )
        job_params = [*params, *latest_j_params, query.depth]
        params = step_params
    else:
        step = f"SELECT i.dataset_id, w.depth + 2 FROM walk w{only_visible('dataset', 'wd', 'w.dataset_id')} "
        step += f"JOIN {t['edge']} o ON o.dataset_id = w.dataset_id AND o.direction = '{toward}'{edge_filter('o')}"
        step += only_visible("job", "oj", "o.job_id")
        step += (
            f" JOIN {t['edge']} i ON i.job_id = o.job_id AND i.direction = '{onward}'{edge_filter('i')} "
            f"WHERE w.depth + 2 <= %s"
        )
        params.append(query.depth)
        step_params, params = params, []
        jobs = f"SELECT 'job', o.job_id, MIN(w.depth + 1) FROM walk w{only_visible('dataset', 'wd', 'w.dataset_id')} "
        jobs += f"JOIN {t['edge']} o ON o.dataset_id = w.dataset_id AND o.direction = '{toward}'"
        if query.as_of is not None:
            jobs += " AND o.first_seen <= %s"
            params.append(query.as_of)
        jobs += " WHERE w.depth + 1 <= %s GROUP BY o.job_id"
        job_params = [*params, query.depth]
        params = step_params

    sql = (
        f"WITH RECURSIVE walk(dataset_id, depth) AS ({seed} UNION {step}) "
        f"SELECT 'dataset', dataset_id, MIN(depth) FROM walk GROUP BY dataset_id "
        f"UNION ALL {jobs}"
    )
    params += job_params
    if kind == "job":
        sql += " UNION ALL SELECT 'job', CAST(%s AS BIGINT), 0"
        params.append(start_id)
    return sql, params


def walk(query: Query) -> tuple[Subgraph, dict[int, dict[str, set[int]]]]:
    """The directed subgraph around the start, and each returned job's inputs and outputs (all of them)."""
    directions = (UP, DOWN) if query.direction == BOTH else (query.direction,)
    reached: dict[str, dict[Node, int]] = {}
    for direction in directions:
        sql, params = _walk_sql(query, direction)
        depths: dict[Node, int] = {}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for kind, pk, depth in cursor.fetchall():
                node = (kind, pk)
                depths[node] = min(depth, depths.get(node, depth))
        reached[direction] = depths

    job_ids = {pk for depths in reached.values() for kind, pk in depths if kind == "job"}
    io = job_io(job_ids, as_of=query.as_of, view=query.view)
    result = Subgraph()
    for depths in reached.values():
        edges = set()
        for job_id in (pk for kind, pk in depths if kind == "job"):
            for dataset_id in io[job_id]["in"]:
                if ("dataset", dataset_id) in depths:
                    edges.add((("dataset", dataset_id), ("job", job_id)))
            for dataset_id in io[job_id]["out"]:
                if ("dataset", dataset_id) in depths:
                    edges.add((("job", job_id), ("dataset", dataset_id)))
        result = result.merge(Subgraph(depths, edges))
    return result, io


def job_io(job_ids, *, as_of: datetime | None = None, view: str = CUMULATIVE) -> dict[int, dict[str, set[int]]]:
    """Inputs and outputs of each job: all edges seen (by `as_of`), or those of its latest completed run."""
    io: dict[int, dict[str, set[int]]] = defaultdict(lambda: {"in": set(), "out": set()})
    if not job_ids:
        return io
    t = _tables()
    if view == LATEST:
        latest, latest_params = _latest_run("j.id", as_of, t)
        where, where_params = ids_in("j.id", job_ids)
        sql = (
            f"SELECT j.id, u.dataset_id, u.direction FROM {t['job']} j "
            f"JOIN {t['use']} u ON u.run_id = {latest} WHERE {where}"
        )
        params = [*latest_params, *where_params]
    else:
        where, params = ids_in("e.job_id", job_ids)
        sql = f"SELECT e.job_id, e.dataset_id, e.direction FROM {t['edge']} e WHERE {where}"
        if as_of is not None:
            sql += " AND e.first_seen <= %s"
            params.append(as_of)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for job_id, dataset_id, direction in cursor.fetchall():
            io[job_id][direction].add(dataset_id)
    return io


# --- Node data ------------------------------------------------------------------------------------------


def iso_time(column: str) -> str:
    """SQL giving a time column as the API writes it (`governance.times.iso`: ISO 8601 in UTC, microseconds
    only when there are any, `Z`), so answers of thousands of nodes need not load and format each time in Python.
    Other databases return the time itself, formatted by `iso` later."""
    if connection.vendor != "postgresql":
        return column
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(date_part('microseconds', {column})::bigint, "
        f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || 'Z')"
    )


def _json(value):
    """A JSON column's value: PostgreSQL sends jsonb as text (Django registers no jsonb loader), as does SQLite."""
    if isinstance(value, str):
        return [] if value == "[]" else orjson.loads(value)
    return value


def dataset_rows(ids) -> dict[int, dict[str, Any]]:
    """What the answer shows of each dataset, in one query. Times are ISO strings on PostgreSQL (`iso_time`)."""
    if not ids:
        return {}
    t = _tables()
    where, params = ids_in("d.id", ids)
    sql = (
        f"SELECT d.id, d.namespace_id, n.name, d.name, d.dataset_type, d.source_name, d.fields, d.tags, "
        f"d.owners, d.description, d.lifecycle_state, d.is_deleted, {iso_time('d.created_at')}, "
        f"{iso_time('d.updated_at')} "
        f"FROM {t['dataset']} d JOIN {t['namespace']} n ON n.id = d.namespace_id WHERE {where}"
    )
    columns = [
        "id",
        "namespace_id",
        "namespace",
        "name",
        "type",
        "source",
        "fields",
        "tags",
        "owners",
        "description",
        "lifecycle",
        "deleted",
        "created_at",
        "updated_at",
    ]
    rows = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            row["fields"], row["tags"], row["owners"] = _json(row["fields"]), _json(row["tags"]), _json(row["owners"])
            rows[row["id"]] = row
    return rows


def job_rows(ids) -> dict[int, dict[str, Any]]:
    """What the answer shows of each job, with its latest run and its DAG, in one query. Times are ISO strings on
    PostgreSQL (`iso_time`)."""
    if not ids:
        return {}
    t = _tables()
    where, params = ids_in("j.id", ids)
    latest = f"(SELECT r.id FROM {t['run']} r WHERE r.job_id = j.id ORDER BY r.created_at DESC, r.id DESC LIMIT 1)"
    # The latest run's id is picked once per job (a materialised CTE: joined on directly, PostgreSQL evaluated the
    # subquery twice per job); parent and DAG names come from a second query for the few jobs that have them
    # (joined here, they cost two scans of the whole job table).
    sql = (
        f"WITH picked AS MATERIALIZED (SELECT j.id, {latest} AS latest_id FROM {t['job']} j WHERE {where}) "
        f"SELECT j.id, j.namespace_id, j.dag_id, n.name, j.name, j.job_type, j.integration, j.processing_type, "
        f"j.description, j.source_code_location, j.owners, {iso_time('j.created_at')}, {iso_time('j.updated_at')}, "
        f"j.parent_id, lr.run_id, lr.state, {iso_time('lr.started_at')}, {iso_time('lr.ended_at')} "
        f"FROM picked JOIN {t['job']} j ON j.id = picked.id JOIN {t['namespace']} n ON n.id = j.namespace_id "
        f"LEFT JOIN {t['run']} lr ON lr.id = picked.latest_id"
    )
    columns = [
        "id",
        "namespace_id",
        "dag_id",
        "namespace",
        "name",
        "job_type",
        "integration",
        "processing_type",
        "description",
        "location",
        "owners",
        "created_at",
        "updated_at",
        "parent_id",
        "run_id",
        "run_state",
        "run_started_at",
        "run_ended_at",
    ]
    rows = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            row["owners"] = _json(row["owners"])
            rows[row["id"]] = row
        related = {pk for row in rows.values() for pk in (row["parent_id"], row["dag_id"]) if pk is not None}
        names = {}
        if related:
            where, params = ids_in("j.id", related)
            cursor.execute(
                f"SELECT j.id, n.name, j.name FROM {t['job']} j JOIN {t['namespace']} n ON n.id = j.namespace_id "
                f"WHERE {where}",
                params,
            )
            names = {pk: (namespace, name) for pk, namespace, name in cursor.fetchall()}
    for row in rows.values():
        row["parent_namespace"], row["parent_name"] = names.get(row.pop("parent_id"), (None, None))
        row["dag_namespace"], row["dag_name"] = names.get(row["dag_id"], (None, None))
    return rows


def column_expander(*, as_of: datetime | None = None, visible: set[int] | None = None):
    """An `expand` for `lineage.read.graph.walk` over field-level lineage: one query per level of the walk."""

    def expand(frontier: list[Node], direction: str) -> list[Edge]:
        by_dataset = defaultdict(set)
        for _, (dataset_id, field) in frontier:
            by_dataset[dataset_id].add(field)
        side = "output" if direction == UP else "input"
        condition = Q()
        for dataset_id, fields in by_dataset.items():
            condition |= Q(**{f"{side}_dataset_id": dataset_id, f"{side}_field__in": fields})
        rows = ColumnLineage.objects.filter(condition).exclude(output_field="")
        if visible is not None:
            rows = rows.filter(input_dataset__namespace_id__in=visible, output_dataset__namespace_id__in=visible)
        if as_of is not None:
            rows = rows.filter(first_seen__lte=as_of)
        return [
            (("field", (i_ds, i_f)), ("field", (o_ds, o_f)))
            for i_ds, i_f, o_ds, o_f in rows.values_list(
                "input_dataset_id", "input_field", "output_dataset_id", "output_field"
            )
        ]

    return expand
