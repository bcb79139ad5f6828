"""The real openlineage-python client (what Airflow's provider uses) talking to a running Tributary."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, job_type_job, parent_run, schema_dataset
from openlineage.client.transport.http import HttpConfig, HttpTransport
from requests import HTTPError

from governance.tokens import create_token
from lineage.models import ColumnLineage, RawEvent
from lineage.models import Job as JobRow
from lineage.models import Run as RunRow

PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
pytestmark = pytest.mark.django_db(transaction=True)


def client_for(server_url: str, api_key: str) -> OpenLineageClient:
    # The same settings as Airflow's [openlineage] transport = {"type": "http", ...}.
    config = HttpConfig.from_dict(
        {
            "url": server_url,
            "endpoint": "api/v1/lineage",
            "auth": {"type": "api_key", "apiKey": api_key},
            "compression": "gzip",
            "retry": {"total": 0},
        }
    )
    return OpenLineageClient(transport=HttpTransport(config))


def task_events(dag_run_id: str, task_run_id: str) -> list[RunEvent]:
    start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    parent = parent_run.ParentRunFacet(
        job=parent_run.Job(namespace="airflow-prod", name="orders_daily"),
        run=parent_run.Run(runId=dag_run_id),
    )
    task = Job(
        namespace="airflow-prod",
        name="orders_daily.build_mart",
        facets={"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType="TASK")},
    )
    source = InputDataset(
        namespace="postgres://orders-db:5432",
        name="shop.public.orders",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="id", type="bigint"),
                    schema_dataset.SchemaDatasetFacetFields(name="email", type="text"),
                ]
            )
        },
    )
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "customer_email": column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace="postgres://orders-db:5432", name="shop.public.orders", field="email"
                    )
                ]
            )
        }
    )
    target = OutputDataset(
        namespace="postgres://warehouse:5432", name="analytics.mart.orders", facets={"columnLineage": lineage}
    )
    run = Run(runId=task_run_id, facets={"parent": parent})
    return [
        RunEvent(
            eventType=RunState.START, eventTime=start.isoformat(), run=run, job=task, producer=PRODUCER, inputs=[source]
        ),
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=(start + timedelta(seconds=42)).isoformat(),
            run=run,
            job=task,
            producer=PRODUCER,
            inputs=[source],
            outputs=[target],
        ),
    ]


def test_airflow_client_events_arrive_gzipped_and_become_lineage(live_server):
    token = create_token(name="airflow-prod", scope="ingest").secret
    client = client_for(live_server.url, token)
    dag_run_id, task_run_id = str(uuid.uuid4()), str(uuid.uuid4())
    for event in task_events(dag_run_id, task_run_id):
        client.emit(event)

    assert RawEvent.objects.filter(run_id=task_run_id).count() == 2
    run = RunRow.objects.get(run_id=task_run_id)
    assert run.state == "COMPLETED" and run.duration_ms == 42_000
    assert run.parent_run_id == dag_run_id
    task = JobRow.objects.get(name="orders_daily.build_mart")
    assert task.parent.name == "orders_daily" and task.dag == task.parent
    edge = ColumnLineage.objects.get()
    assert (edge.input_field, edge.output_field) == ("email", "customer_email")


def test_the_client_is_told_when_its_key_is_wrong(live_server):
    client = client_for(live_server.url, "trb_wrong")
    with pytest.raises(HTTPError) as refused:
        client.emit(task_events(str(uuid.uuid4()), str(uuid.uuid4()))[0])
    assert refused.value.response.status_code == 401
    assert RawEvent.objects.count() == 0
