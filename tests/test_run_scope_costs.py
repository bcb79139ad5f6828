"""What a namespace-limited token's claims on runs cost: bounded, whatever a sender does on purpose.

A run that limited tokens of two namespaces claim is left blank (no event contributes to it). Every later event
naming it must not make the deriver re-read the run's whole history (the cost would grow with the square of the
run's life), and a batch of a limited token reads the claims of the runs it names once, not once per event.
"""

import random

import orjson
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from governance.tokens import create_token, digest
from lineage.derive.queue import derive_pending
from lineage.ingest import services
from lineage.models import Run
from lineage.validation import parse_event_time

from .conftest import requires_postgres
from .events import at, dataset, facet, run_event
from .graph_state import snapshot
from .test_ingest_token_scope import in_good_standing

pytestmark = pytest.mark.django_db

R = "0199a000-0000-7000-8000-0000000c0570"
AIRFLOW, FINANCE = ["airflow"], ["finance"]


def claim(job: tuple[str, str], seconds: float, event_type: str = "RUNNING") -> dict:
    return run_event(
        event_type,
        run_id=R,
        job=job,
        seconds=seconds,
        run_facets={"errorMessage": facet(message="pwned", programmingLanguage="python")},
        outputs=[dataset(job[0], "out")],
    )


def ingest(event: dict, limited_to: list[str] | None) -> None:
    result = services.ingest_event(event=event, source="cli", derive=False, limited_to=limited_to)
    assert result.stored


def history_reads(queries) -> list[str]:
    """The statements reading a run's raw events back (to derive it again from all of them)."""
    return [
        q["sql"] for q in queries if 'FROM "lineage_rawevent"' in q["sql"] and '"lineage_rawevent"."run_id"' in q["sql"]
    ]


def test_later_events_naming_a_run_two_limited_tokens_left_blank_do_not_reread_its_history():
    ingest(claim(("finance", "dag.task"), 0), FINANCE)
    ingest(claim(("airflow", "x"), 1), AIRFLOW)
    derive_pending()
    assert Run.objects.get(run_id=R).job_stamp == ""  # blank: neither may change it

    for seconds in range(2, 12):
        ingest(
            claim(("airflow", "x") if seconds % 2 else ("finance", "dag.task"), seconds),
            AIRFLOW if seconds % 2 else FINANCE,
        )
        with CaptureQueriesContext(connection) as queries:
            derive_pending()
        assert history_reads(queries.captured_queries) == []

    run = Run.objects.select_related("job__namespace").get(run_id=R)
    assert (run.state, run.facets, run.job_stamp) == ("NEW", {}, "")
    assert (run.job.namespace.name, run.job.name) == ("airflow", "x")  # the first claiming job by name
    assert (run.created_at, run.updated_at) == (parse_event_time(at(0)), parse_event_time(at(11)))
    derived = snapshot()
    call_command("lineage_rebuild")
    assert snapshot() == derived


def _claims_stream() -> list[tuple[dict, list[str] | None]]:
    """Limited events of two namespaces (under several job names, so the first by name changes) claiming one
    run, then an unlimited event that settles it."""
    stream = [
        (claim(("finance", "m"), 5), FINANCE),
        (claim(("airflow", "z"), 3), AIRFLOW),
        (claim(("airflow", "b"), 9), AIRFLOW),
        (claim(("finance", "a"), 1), FINANCE),
        (claim(("airflow", "c"), 12), AIRFLOW),
    ]
    return [*stream, (run_event("COMPLETE", run_id=R, job=("finance", "m"), seconds=7), None)]


@pytest.mark.parametrize("settled", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_a_blank_run_ends_as_a_rebuild_derives_it_whatever_the_order_and_batches(seed, settled):
    stream = _claims_stream() if settled else _claims_stream()[:-1]
    rng = random.Random(seed)
    with transaction.atomic():
        for event, limit in stream:
            ingest(event, limit)
        derive_pending()
        expected = snapshot()
        transaction.set_rollback(True)
    rng.shuffle(stream)
    for event, limit in stream:
        ingest(event, limit)
        if rng.random() < 0.6:
            derive_pending(batch_size=rng.randint(1, 3))
    derive_pending()
    assert snapshot() == expected
    run = Run.objects.get(run_id=R)
    assert run.state == ("COMPLETED" if settled else "NEW")


def test_a_limited_tokens_batch_reads_the_claims_of_its_runs_once_whatever_its_size(django_assert_max_num_queries):
    finance = {i: run_event("COMPLETE", run_id=f"finance-{i}", job=("finance", "load"), seconds=i) for i in range(50)}
    services.ingest_batch(events=list(finance.values()), token=None)
    token = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"]).token

    def batch(size: int) -> list[dict]:
        # Half name finance's runs (the answer warns), half the token's own.
        return [
            run_event("FAIL", run_id=f"finance-{i}" if i % 2 else f"own-{i}", job=("airflow", "x"), seconds=100 + i)
            for i in range(size)
        ]

    counts = {}
    for size in (10, 50):
        events = batch(size)
        services.ingest_batch(events=events, token=token)  # stored (and derived): what follows are duplicates
        with CaptureQueriesContext(connection) as queries:
            results = services.ingest_batch(events=events, token=token)
        counts[size] = len(queries.captured_queries)
        assert [r.outcome for r in results] == [services.DUPLICATE] * size
        warned = [
            i for i, r in enumerate(results) if r.warnings == [{"path": "/run/runId", "message": services.FOREIGN_RUN}]
        ]
        assert warned == [i for i in range(size) if i % 2]
        assert all(r.warnings == [] for i, r in enumerate(results) if i % 2 == 0)
    assert counts[50] == counts[10]
    with django_assert_max_num_queries(counts[10]):
        services.ingest_batch(events=batch(50), token=token)


def plan_of_the_one_statement(issued, event: dict) -> str:
    """PostgreSQL's account of the one-statement insert (services.ingest_event_as) of `event`, as executed."""
    in_good_standing(issued)
    with CaptureQueriesContext(connection) as queries:
        answer = services.ingest_event_as(
            event=event, body=orjson.dumps(event).decode(), token_digest=digest(issued.secret)
        )
    assert answer is not None and answer.outcome == services.ACCEPTED
    (sql,) = [q["sql"] for q in queries.captured_queries if "WITH token AS" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


@requires_postgres()
def test_an_unlimited_tokens_event_does_not_look_up_the_run_on_the_one_statement_way():
    foreign = run_event("COMPLETE", run_id=R, job=("airflow", "x"), outputs=[dataset("finance", "ledger")])
    unlimited = plan_of_the_one_statement(create_token(name="all", scope="ingest"), foreign)
    limited = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"])
    foreign["eventTime"] = at(1)
    plan = plan_of_the_one_statement(limited, foreign)

    def run_lookup(plan: str) -> str:
        lines = plan.splitlines()
        (at_line,) = [i for i, line in enumerate(lines) if "lineage_run" in line]
        return "\n".join(lines[at_line - 2 : at_line + 1])

    assert "never executed" in run_lookup(unlimited)
    assert "never executed" not in run_lookup(plan)
