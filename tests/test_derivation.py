"""What the graph looks like after events are ingested: run state, lineage, versions, DAG grouping."""

import random

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lineage.derive import queue
from lineage.derive.queue import derive_pending
from lineage.ingest import services
from lineage.models import (
    ColumnLineage,
    Dataset,
    DatasetVersion,
    Job,
    JobEdge,
    JobVersion,
    RawEvent,
    Run,
    RunDataset,
)

from .conftest import INVALID_DIR, example_event_names, load_event
from .events import dataset, facet, job_type, run_event
from .graph_state import snapshot

pytestmark = pytest.mark.django_db

RUN = "0199a000-0000-7000-8000-000000000001"


def ingest(*events, derive=True):
    results = [services.ingest_event(event=e, source="cli", derive=False) for e in events]
    if derive:
        derive_pending()
    return results


def test_run_state_follows_event_time_and_a_terminal_state_wins():
    start = run_event("START", run_id=RUN, seconds=0)
    complete = run_event("COMPLETE", run_id=RUN, seconds=30)
    late_running = run_event("RUNNING", run_id=RUN, seconds=60)  # a heartbeat sent after the end
    ingest(complete)
    assert Run.objects.get(run_id=RUN).state == "COMPLETED"
    ingest(late_running, start)
    run = Run.objects.get(run_id=RUN)
    assert run.state == "COMPLETED"
    assert run.duration_ms == 30_000
    assert run.started_at.isoformat() == start["eventTime"]
    assert run.ended_at.isoformat() == complete["eventTime"]


def test_other_events_and_events_without_type_do_not_change_state():
    ingest(
        run_event("START", run_id=RUN),
        run_event("OTHER", run_id=RUN, seconds=5),
        run_event(None, run_id=RUN, seconds=6),
    )
    assert Run.objects.get(run_id=RUN).state == "RUNNING"


def test_an_event_without_datasets_never_erases_what_the_run_recorded():
    source, target = dataset("pg://db", "public.orders"), dataset("pg://wh", "mart.orders")
    ingest(run_event("START", run_id=RUN, inputs=[source], outputs=[target]))
    ingest(run_event("COMPLETE", run_id=RUN, seconds=10))
    run = Run.objects.get(run_id=RUN)
    assert sorted(run.io.values_list("direction", "dataset__name")) == [("in", "public.orders"), ("out", "mart.orders")]
    assert JobEdge.objects.filter(job=run.job).count() == 2


def test_a_duplicate_event_changes_nothing():
    event = load_event("airflow_gcs_to_bigquery_task_complete_column_lineage.json")
    first = ingest(event)[0]
    before, raw_count = snapshot(), RawEvent.objects.count()
    again = ingest(dict(reversed(list(event.items()))))[0]  # same content, other key order
    assert (first.outcome, again.outcome) == ("accepted", "duplicate")
    assert again.raw_event_id == first.raw_event_id
    assert RawEvent.objects.count() == raw_count
    assert snapshot() == before


def test_airflow_tasks_are_grouped_under_their_dag():
    ingest(
        *(
            load_event(n)
            for n in (
                "airflow3_dag_start.json",
                "airflow3_python_task_start_parent_root.json",
                "airflow3_python_task_complete.json",
            )
        )
    )
    task = Job.objects.get(name="openlineage_base_simple_dag.do_nothing_task")
    dag = Job.objects.get(name="openlineage_base_simple_dag")
    assert (task.parent, task.dag, dag.dag) == (dag, dag, dag)
    assert (task.job_type, dag.job_type) == ("TASK", "DAG")
    assert Run.objects.get(job=task).parent_run_id == Run.objects.get(job=dag).run_id


def test_a_query_arriving_before_its_task_still_ends_under_the_dag():
    dag_run, task_run, query_run = (f"0199{i}ce6-8c00-7c41-8e5a-3b7d9f2c1a64" for i in range(3))
    query = run_event(
        "COMPLETE",
        run_id=query_run,
        job=("airflow", "etl.load.query.1"),
        seconds=3,
        job_facets=job_type("QUERY"),
        parent=("airflow", "etl.load", task_run),
    )
    task = run_event(
        "COMPLETE",
        run_id=task_run,
        job=("airflow", "etl.load"),
        seconds=4,
        job_facets=job_type("TASK"),
        parent=("airflow", "etl", dag_run),
    )
    dag = run_event("COMPLETE", run_id=dag_run, job=("airflow", "etl"), seconds=5, job_facets=job_type("DAG"))
    ingest(query)
    ingest(task)
    ingest(dag)
    dag_job = Job.objects.get(name="etl")
    assert {j.name: j.dag for j in Job.objects.all()} == {
        "etl": dag_job,
        "etl.load": dag_job,
        "etl.load.query.1": dag_job,
    }


def test_a_dag_triggered_by_an_external_parent_is_still_its_own_group():
    ingest(load_event("airflow3_dag_fail_triggered_with_external_parent.json"))
    dag = Job.objects.get(name="openlineage_trigger_failed_dag_child__notrigger")
    assert dag.parent.name == "get_files" and dag.parent.namespace.name == "prod_biz"
    assert dag.dag == dag
    run = Run.objects.get(job=dag)
    assert (run.state, run.error_message) == ("FAILED", "task_failure")


def test_column_lineage_comes_from_the_column_lineage_facet():
    event = load_event("airflow_gcs_to_bigquery_task_complete_column_lineage.json")
    ingest(event)
    declared = {
        (out_field, item["namespace"], item["name"], item["field"])
        for output in event["outputs"]
        for out_field, spec in output["facets"]["columnLineage"]["fields"].items()
        for item in spec["inputFields"]
    }
    stored = set(
        ColumnLineage.objects.values_list(
            "output_field", "input_dataset__namespace__name", "input_dataset__name", "input_field"
        )
    )
    assert declared and stored == declared


def test_dataset_facets_are_the_latest_by_event_time_whatever_the_arrival_order():
    old = run_event("COMPLETE", run_id=RUN, seconds=0, outputs=[dataset("pg://wh", "t", fields=["id"])])
    new = run_event("COMPLETE", run_id="r2", seconds=100, outputs=[dataset("pg://wh", "t", fields=["id", "email"])])
    ingest(new)
    ingest(old)
    table = Dataset.objects.get(name="t")
    assert [f["name"] for f in table.fields] == ["id", "email"]
    assert list(table.schema_fields.values_list("name", flat=True)) == ["id", "email"]
    versions = DatasetVersion.objects.filter(dataset=table).order_by("created_at")
    assert [[f["name"] for f in v.fields] for v in versions] == [["id"], ["id", "email"]]


def test_a_deleted_facet_removes_it_and_order_does_not_matter():
    owned = {
        "eventTime": "2021-11-03T10:00:00+00:00",
        "producer": "p",
        "schemaURL": "s",
        "dataset": dataset("pg://wh", "customers", owners=["team:crm"]),
    }
    deleted = load_event("derived_static_dataset_event_delete_ownership_facet.json")
    deleted["dataset"]["namespace"], deleted["dataset"]["name"] = "pg://wh", "customers"
    ingest(deleted)
    ingest(owned)
    assert Dataset.objects.get(name="customers").owners == []


def test_a_malformed_facet_is_stored_but_not_applied():
    event = load_event("event_invalid_dataset_facet.json", INVALID_DIR)
    result = ingest(event)[0]
    raw = RawEvent.objects.get(pk=result.raw_event_id)
    assert raw.warnings == result.warnings and "ownership" in raw.body
    output = event["outputs"][0]
    assert Dataset.objects.get(name=output["name"]).owners == []


def test_static_lineage_from_a_job_event():
    event = load_event("static_job_event_inputs_outputs.json")
    ingest(event)
    job = Job.objects.get(name=event["job"]["name"])
    assert not Run.objects.exists()
    assert set(JobEdge.objects.filter(job=job).values_list("direction", "dataset__name")) == {
        ("in", event["inputs"][0]["name"]),
        ("out", event["outputs"][0]["name"]),
    }


def test_a_dropped_table_is_marked_deleted():
    ingest(load_event("spark_dataproc_drop_table_lifecycle_drop.json"))
    dropped = Dataset.objects.get(lifecycle_state="DROP")
    assert dropped.is_deleted


def test_a_run_that_gains_outputs_keeps_one_job_version():
    source, target = dataset("pg://db", "a"), dataset("pg://db", "b")
    ingest(run_event("START", run_id=RUN, inputs=[source]))
    ingest(run_event("COMPLETE", run_id=RUN, seconds=9, outputs=[target]))
    version = JobVersion.objects.get()
    assert (version.inputs, version.outputs) == (
        [{"namespace": "pg://db", "name": "a"}],
        [{"namespace": "pg://db", "name": "b"}],
    )
    ingest(run_event("COMPLETE", run_id="second-run", seconds=99, inputs=[source]))
    assert JobVersion.objects.count() == 2


def test_input_and_output_statistics_are_kept_per_run():
    event = load_event("derived_generic_other_output_statistics.json")
    ingest(event)
    use = RunDataset.objects.get(direction="out")
    assert (
        use.facets["outputStatistics"]["rowCount"]
        == event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]
    )


def test_rebuild_derives_the_same_graph():
    ingest(*(load_event(n) for n in example_event_names()))
    before = snapshot()
    assert queue.rebuild() == RawEvent.objects.count()
    derive_pending()
    assert snapshot() == before


# --- Order independence ---------------------------------------------------------------------------------


def _streams():
    """Runs with several events each: real examples plus a run whose events disagree about facets."""
    events = [load_event(n) for n in example_event_names()]
    source = dataset("pg://db", "public.orders", fields=["id", "email"], owners=["team:shop"])
    target_v1 = dataset(
        "pg://wh", "mart.orders", fields=["id"], column_lineage={"id": [("pg://db", "public.orders", "id")]}
    )
    target_v2 = dataset(
        "pg://wh",
        "mart.orders",
        fields=["id", "email_hash"],
        column_lineage={"email_hash": [("pg://db", "public.orders", "email")]},
    )
    events += [
        run_event(
            "START",
            run_id=RUN,
            seconds=0,
            inputs=[source],
            job_facets=job_type("TASK"),
            parent=("airflow", "etl", "dag-run-1"),
        ),
        run_event("RUNNING", run_id=RUN, seconds=5, run_facets={"errorMessage": facet(message="retrying")}),
        run_event(
            "FAIL",
            run_id=RUN,
            seconds=10,
            outputs=[target_v1],
            run_facets={"errorMessage": facet(message="boom", programmingLanguage="python")},
        ),
        run_event(
            "COMPLETE",
            run_id="run-2",
            seconds=20,
            inputs=[source],
            outputs=[target_v2],
            job_facets=job_type("TASK"),
            parent=("airflow", "etl", "dag-run-2"),
        ),
        run_event("START", run_id="dag-run-2", job=("airflow", "etl"), seconds=19, job_facets=job_type("DAG")),
        run_event("ABORT", run_id="dag-run-2", job=("airflow", "etl"), seconds=25),
    ]
    return events


def _in_order_state(events):
    for event in sorted(events, key=lambda e: e["eventTime"]):
        ingest(event)
    return snapshot()


# No shrinking: a failing example is printed as it is, and shrinking through the database is slow.
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(seed=st.integers(0, 2**32 - 1), duplicates=st.integers(0, 15), batch=st.integers(1, 40))
def test_shuffled_duplicated_streams_end_in_the_in_order_state(django_db_blocker, seed, duplicates, batch):
    events = _streams()
    with django_db_blocker.unblock():
        with transaction.atomic():
            expected = _in_order_state(events)
            transaction.set_rollback(True)
        rng = random.Random(seed)
        stream = events + [rng.choice(events) for _ in range(duplicates)]
        rng.shuffle(stream)
        with transaction.atomic():
            for start in range(0, len(stream), batch):
                ingest(*stream[start : start + batch], derive=False)
                derive_pending(batch_size=rng.randint(1, 50))
            assert snapshot() == expected
            transaction.set_rollback(True)
