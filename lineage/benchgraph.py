"""The layered benchmark graph of issue 4, as OpenLineage events and as rows loaded straight into the store.

`LayeredGraph(layers=20, width=5000, fan_in=3)`: layer 0 holds `width` source tables, declared by DatasetEvents;
every table of a later layer is written by one job that reads `fan_in` random tables of the layer before (a
COMPLETE run event each). That is 20 × 5,000 datasets and 19 × 5,000 jobs (195,000 nodes) and 380,000 edges.

Ingesting 100,000 events and deriving them takes hours on a small machine, so `load` writes the derived rows
directly, set-based (COPY on PostgreSQL), in exactly the shape `lineage.derive.store` gives these events: the same
namespaces, datasets, jobs, runs with their state keys, run-dataset uses, job edges, dataset and job versions
and raw events. `tests/test_benchgraph.py` ingests a small instance both ways and requires identical answers
from the read API.
"""

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import orjson
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from governance.models import Namespace
from lineage.models import Dataset, DatasetVersion, Job, JobEdge, JobVersion, RawEvent, Run, RunDataset
from lineage.openlineage import dataset_version_id, event_hash, job_version_id, make_stamp

DATA_NS = "postgres://bench-lineage:5432"
JOBS_NS = "bench-lineage"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.6.0"
RUN_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
DATASET_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN_IDS = uuid.UUID("0b9a3c1e-52d4-4f7e-9c55-3f8f1d0a6b21")
LOADED = (Dataset, Job, JobVersion, Run, RunDataset, JobEdge, DatasetVersion, RawEvent)


@dataclass(frozen=True)
class LayeredGraph:
    layers: int = 20
    width: int = 5000
    fan_in: int = 3
    seed: int = 4

    def dataset(self, layer: int, index: int) -> str:
        return f"layer{layer:02d}.t{index:05d}"

    def job(self, layer: int, index: int) -> str:
        return f"layer{layer:02d}.job{index:05d}"

    def run_id(self, layer: int, index: int) -> str:
        return str(uuid.uuid5(RUN_IDS, f"{self.seed}/{layer}/{index}"))

    def time(self, layer: int, index: int) -> datetime:
        """When job `index` of `layer` ran (layer 0: when source table `index` was declared)."""
        return T0 + timedelta(hours=2 * layer, seconds=index)

    @cached_property
    def inputs(self) -> list[list[tuple[int, ...]]]:
        """`inputs[layer][index]`: the tables of layer - 1 that job `index` of `layer` reads (layer 0: none)."""
        rng = random.Random(self.seed)
        population = range(self.width)
        return [[]] + [
            [tuple(rng.sample(population, self.fan_in)) for _ in range(self.width)] for _ in range(1, self.layers)
        ]

    @property
    def nodes(self) -> int:
        return self.layers * self.width + (self.layers - 1) * self.width

    @property
    def edges(self) -> int:
        return (self.layers - 1) * self.width * (self.fan_in + 1)

    # --- As events ----------------------------------------------------------------------------------------

    def event(self, layer: int, index: int) -> dict[str, Any]:
        moment = self.time(layer, index).isoformat()
        if layer == 0:
            return {
                "eventTime": moment,
                "producer": PRODUCER,
                "schemaURL": DATASET_SCHEMA,
                "dataset": {"namespace": DATA_NS, "name": self.dataset(0, index), "facets": {}},
            }
        return {
            "eventType": "COMPLETE",
            "eventTime": moment,
            "producer": PRODUCER,
            "schemaURL": RUN_SCHEMA,
            "run": {"runId": self.run_id(layer, index), "facets": {}},
            "job": {"namespace": JOBS_NS, "name": self.job(layer, index), "facets": {}},
            "inputs": [
                {"namespace": DATA_NS, "name": self.dataset(layer - 1, k), "facets": {}}
                for k in self.inputs[layer][index]
            ],
            "outputs": [{"namespace": DATA_NS, "name": self.dataset(layer, index), "facets": {}}],
        }

    def events(self) -> Iterator[dict[str, Any]]:
        for layer in range(self.layers):
            for index in range(self.width):
                yield self.event(layer, index)

    # --- Detection ----------------------------------------------------------------------------------------

    def loaded(self) -> bool | None:
        """True when the store holds this graph, False when it holds no graph of this kind, None when it holds
        another or a partial one."""
        datasets = Dataset.objects.filter(namespace__name=DATA_NS).count()
        if datasets == 0:
            return False
        edges = JobEdge.objects.filter(job__namespace__name=JOBS_NS).count()
        probe = self.layers - 1, self.width - 1
        last_job = Job.objects.filter(namespace__name=JOBS_NS, name=self.job(*probe)).first()
        if datasets != self.layers * self.width or edges != self.edges or last_job is None:
            return None
        reads = set(JobEdge.objects.filter(job=last_job, direction="in").values_list("dataset__name", flat=True))
        expected = {self.dataset(probe[0] - 1, k) for k in self.inputs[probe[0]][probe[1]]}
        return reads == expected

    # --- Loading the derived rows -------------------------------------------------------------------------

    def ensure(self, *, progress=None) -> float | None:
        """Load this graph unless the store holds it already; returns the seconds loading took, or None when the
        graph was there. Refuses a store holding another or a partial benchmark graph."""
        state = self.loaded()
        if state is None:
            raise ValueError("the database holds another or a partial benchmark graph: use a fresh database")
        if state:
            return None
        began = time.monotonic()
        self.load(progress=progress)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Index-only scans need the visibility map, the planner needs statistics.
                tables = [m._meta.db_table for m in (*LOADED, Namespace)]
                cursor.execute(f"VACUUM ANALYZE {', '.join(map(connection.ops.quote_name, tables))}")
        return time.monotonic() - began

    def load(self, *, progress=None) -> None:
        """Write this graph's rows as derivation makes them, in one transaction, into a store without it."""
        if self.loaded() is not False:
            raise ValueError("the store already holds a graph in the benchmark namespaces")
        with transaction.atomic():
            _Loader(self, progress).run()


class _Table:
    """Rows of one model, written with COPY on PostgreSQL and executemany elsewhere; pks assigned here."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields]
        self.defaults = {f.attname: f.get_default() for f in self.fields}
        self.next_pk = (model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1
        self.rows: list[tuple] = []
        self.written = 0

    def add(self, **values) -> int:
        pk = self.next_pk
        self.next_pk += 1
        values["id"] = pk
        row = []
        for f in self.fields:
            value = values[f.attname] if f.attname in values else self.defaults.get(f.attname)
            row.append(value)
        self.rows.append(tuple(row))
        return pk

    def flush(self) -> None:
        if not self.rows:
            return
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(f.column) for f in self.fields)
        json_columns = [i for i, f in enumerate(self.fields) if isinstance(f, models.JSONField)]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in self.rows:
                        if json_columns:
                            row = list(row)
                            for i in json_columns:
                                row[i] = orjson.dumps(row[i]).decode()
                        copy.write_row(row)
            else:
                prepared = [
                    [f.get_db_prep_save(value, connection) for f, value in zip(self.fields, row, strict=True)]
                    for row in self.rows
                ]
                marks = ", ".join(["%s"] * len(self.fields))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", prepared)
        self.written += len(self.rows)
        self.rows = []


class _Loader:
    def __init__(self, graph: LayeredGraph, progress):
        self.graph = graph
        self.progress = progress or (lambda message: None)
        self.tables = {model: _Table(model) for model in (Namespace, *LOADED)}

    def run(self) -> None:
        g = self.graph
        last = g.time(g.layers - 1, g.width - 1)
        namespaces = {}
        for name, first in ((DATA_NS, g.time(0, 0)), (JOBS_NS, g.time(1, 0))):
            ns = Namespace.objects.filter(name=name).first()
            if ns is None:
                namespaces[name] = self.tables[Namespace].add(name=name, created_at=first, updated_at=last)
            else:  # a namespace row may be there already (grants are made on namespaces)
                ns.created_at, ns.updated_at = min(ns.created_at, first), max(ns.updated_at, last)
                ns.save(update_fields=["created_at", "updated_at"])
                namespaces[name] = ns.pk
        self.tables[Namespace].flush()
        self.data_ns, self.jobs_ns = namespaces[DATA_NS], namespaces[JOBS_NS]

        previous: list[int] = []
        for layer in range(g.layers):
            previous = self.layer(layer, previous)
            self.progress(f"layer {layer + 1}/{g.layers}")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), list(self.tables)):
                    cursor.execute(sql)

    def layer(self, layer: int, previous: list[int]) -> list[int]:
        """Write the datasets of `layer`, the jobs that write them, and their runs and edges; returns the new
        datasets' pks."""
        g = self.graph
        datasets, jobs, job_versions = self.tables[Dataset], self.tables[Job], self.tables[JobVersion]
        runs, uses, edges = self.tables[Run], self.tables[RunDataset], self.tables[JobEdge]
        versions, raws = self.tables[DatasetVersion], self.tables[RawEvent]
        # A table's span: from its writer's (or declaration's) event to the last of its readers' events.
        last_read = {}
        if layer + 1 < g.layers:
            for index, read in enumerate(g.inputs[layer + 1]):
                moment = g.time(layer + 1, index)
                for k in read:
                    last_read[k] = moment  # indexes rise with time within a layer
        pks = []
        for index in range(g.width):
            made = g.time(layer, index)
            pks.append(
                datasets.add(
                    namespace_id=self.data_ns,
                    name=g.dataset(layer, index),
                    created_at=made,
                    updated_at=last_read.get(index, made),
                    facets={},
                    facet_stamps={},
                )
            )
        for index in range(g.width):
            event = g.event(layer, index)
            digest = event_hash(event)
            moment = g.time(layer, index)
            raw = dict(
                event_hash=digest,
                body=orjson.dumps(event).decode(),
                event_time=moment,
                producer=PRODUCER,
                received_at=timezone.now(),
                source="cli",
                warnings=[],
            )
            if layer == 0:
                raws.add(kind="dataset", job_namespace=DATA_NS, job_name=g.dataset(0, index), **raw)
                continue
            raws.add(
                kind="run",
                event_type="COMPLETE",
                run_id=g.run_id(layer, index),
                job_namespace=JOBS_NS,
                job_name=g.job(layer, index),
                **raw,
            )
            stamp = make_stamp(moment, digest)
            name = g.job(layer, index)
            read = g.inputs[layer][index]
            read_names = sorted((DATA_NS, g.dataset(layer - 1, k)) for k in read)
            written = [(DATA_NS, g.dataset(layer, index))]
            job = jobs.add(
                namespace_id=self.jobs_ns, name=name, created_at=moment, updated_at=moment, facets={}, facet_stamps={}
            )
            job_version = job_versions.add(
                job_id=job,
                version=job_version_id(JOBS_NS, name, read_names, written),
                created_at=moment,
                updated_at=moment,
                inputs=[{"namespace": ns, "name": n} for ns, n in read_names],
                outputs=[{"namespace": ns, "name": n} for ns, n in written],
            )
            run = runs.add(
                run_id=g.run_id(layer, index),
                job_id=job,
                job_stamp=stamp,
                state="COMPLETED",
                state_key=f"2|{stamp}",
                ended_at=moment,
                created_at=moment,
                updated_at=moment,
                facets={},
                facet_stamps={},
                job_version_id=job_version,
            )
            for dataset_pk, direction in [*((previous[k], "in") for k in read), (pks[index], "out")]:
                uses.add(run_id=run, dataset_id=dataset_pk, direction=direction, created_at=moment)
                edges.add(job_id=job, dataset_id=dataset_pk, direction=direction, first_seen=moment, last_seen=moment)
            versions.add(
                dataset_id=pks[index],
                version=dataset_version_id(DATA_NS, g.dataset(layer, index), g.run_id(layer, index)),
                run_id=run,
                created_at=moment,
                updated_at=moment,
                facets={},
                facet_stamps={},
            )
        for model in LOADED:
            self.tables[model].flush()
        return pks
