"""Two processes ingesting events of the same runs at the same time end consistent."""

import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.db import connection

from lineage.derive import queue
from lineage.derive.queue import derive_pending
from lineage.models import ColumnLineage, Dataset, DeriveQueue, JobEdge, RawEvent, Run

from .conftest import requires_postgres
from .events import dataset, job_type, run_event
from .graph_state import snapshot

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres(), pytest.mark.slow]


def shared_runs(count: int) -> list[dict]:
    """Runs of a few jobs that all read and write the same handful of tables."""
    events = []
    tables = [f"mart.t{i}" for i in range(4)]
    for number in range(count):
        run_id = f"0199b000-0000-7000-8000-{number:012d}"
        job = ("airflow", f"etl.task_{number % 5}")
        source = dataset("pg://db", tables[number % 4], fields=["id", "email", f"c{number}"])
        target = dataset(
            "pg://wh",
            tables[(number + 1) % 4],
            fields=["id", "email_hash"],
            column_lineage={"email_hash": [("pg://db", tables[number % 4], "email")]},
        )
        parent = ("airflow", "etl", f"dag-run-{number // 5}")
        events += [
            run_event(
                "START",
                run_id=run_id,
                job=job,
                seconds=number,
                inputs=[source],
                job_facets=job_type("TASK"),
                parent=parent,
            ),
            run_event("RUNNING", run_id=run_id, job=job, seconds=number + 0.5),
            run_event(
                "COMPLETE", run_id=run_id, job=job, seconds=number + 1, inputs=[source], outputs=[target], parent=parent
            ),
        ]
    return events


def test_two_processes_ingesting_the_same_runs_end_consistent(tmp_path):
    events = shared_runs(60)
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env["DATABASE_URL"] = f"postgresql://127.0.0.1:5432/{connection.settings_dict['NAME']}"
    files = []
    for worker in range(2):
        stream = list(events)
        random.Random(worker).shuffle(stream)
        path = tmp_path / f"worker{worker}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in stream))
        files.append(path)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ingest_worker", str(f)], cwd=ROOT, env=env, stderr=subprocess.PIPE
        )
        for f in files
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]

    assert RawEvent.objects.count() == len(events)  # each event stored once, whoever sent it first
    assert not DeriveQueue.objects.exists()
    assert Run.objects.count() == 60 and set(Run.objects.values_list("state", flat=True)) == {"COMPLETED"}
    assert Dataset.objects.count() == 8
    assert JobEdge.objects.count() == len(set(JobEdge.objects.values_list("job", "dataset", "direction")))
    assert ColumnLineage.objects.count() == 4

    # The same events derived by one process, in one go, give exactly the same graph.
    concurrent = snapshot()
    queue.rebuild()
    derive_pending()
    assert snapshot() == concurrent
