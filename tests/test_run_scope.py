"""A namespace-limited ingest token cannot change another namespace's run by reusing its runId.

The attack: runs are named by their `runId` alone. A token limited to `airflow` sends a FAIL event, with an error
message, for its own job `airflow.x` under the runId of a run of `finance.dag.task`. The event is its job's to
record, but the run is finance's: its state, times, facets, inputs and outputs and its job stay as finance's
events made them, whichever event arrives first, and after a rebuild. And a refused event of a limited token,
replayed after its token was deleted, is still limited to the token's namespaces.
"""

import random

import orjson
import pytest
from django.core.management import call_command
from django.db import transaction

from governance.models import ApiToken
from governance.tokens import create_token
from lineage.derive.fold import fold
from lineage.derive.queue import StaleClaims
from lineage.derive.store import apply_delta
from lineage.ingest import services
from lineage.models import Dataset, DatasetVersion, Job, JobEdge, QuarantinedEvent, Run, RunDataset
from lineage.openlineage import event_hash, parse_event
from lineage.validation import parse_event_time

from .conftest import login
from .events import at, dataset, facet, run_event
from .test_ingest_token_scope import WAREHOUSE, in_good_standing

R = "0199a000-0000-7000-8000-0000000f1a00"
FINANCE_JOB = ("finance", "dag.task")
ATTACKER_JOB = ("airflow", "x")


@pytest.fixture(params=["usual", "one statement"])
def airflow_token(request, db):
    issued = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"])
    if request.param == "one statement":
        in_good_standing(issued)
    return issued.secret


def finance_run() -> dict:
    return run_event(
        "COMPLETE",
        run_id=R,
        job=FINANCE_JOB,
        seconds=10,
        run_facets={"nominalTime": facet(nominalStartTime="2024-05-01T00:00:00Z")},
        outputs=[dataset("finance", "ledger")],
    )


def forged_failure() -> dict:
    return run_event(
        "FAIL",
        run_id=R,
        job=ATTACKER_JOB,
        seconds=3600,
        run_facets={"errorMessage": facet(message="pwned", programmingLanguage="python")},
        inputs=[dataset("finance", "ledger")],
        outputs=[dataset("airflow", "stolen")],
    )


def assert_finances_run() -> None:
    run = Run.objects.select_related("job__namespace").get(run_id=R)
    assert (run.job.namespace.name, run.job.name) == FINANCE_JOB
    assert run.state == "COMPLETED" and run.error_message == ""
    assert set(run.facets) == {"nominalTime"} and run.ended_at == parse_event_time(at(10))
    assert set(RunDataset.objects.filter(run=run).values_list("dataset__name", "direction")) == {("ledger", "out")}
    assert not DatasetVersion.objects.filter(run=run, dataset__name="stolen").exists()


def attackers_job_is_recorded() -> None:
    """The forged event stays the lineage of its own job: its job, its edges, its own output."""
    job = Job.objects.get(namespace__name="airflow", name="x")
    assert not job.runs.exists()
    assert JobEdge.objects.filter(job=job, dataset__name="stolen", direction="out").exists()
    assert JobEdge.objects.filter(job=job, dataset__name="ledger", direction="in").exists()


NOT_THE_RUN = {"path": "/run/runId", "message": services.FOREIGN_RUN}


@pytest.mark.django_db
def test_a_limited_token_cannot_fail_another_namespaces_run_by_reusing_its_run_id(post_event, airflow_token):
    assert post_event(finance_run()).status_code == 201

    response = post_event(forged_failure(), token=airflow_token)

    assert response.status_code == 201
    assert response.json()["warnings"] == [NOT_THE_RUN]  # the run was there: the door can tell
    assert_finances_run()
    attackers_job_is_recorded()
    call_command("lineage_rebuild")
    assert_finances_run()
    attackers_job_is_recorded()


@pytest.mark.django_db
def test_a_forged_event_that_arrives_before_the_runs_own_is_undone_when_the_run_arrives(post_event, airflow_token):
    response = post_event(forged_failure(), token=airflow_token)
    # The run did not exist yet: the door cannot tell, and for now the run is the airflow job's.
    assert response.status_code == 201 and response.json()["warnings"] == []
    assert Run.objects.get(run_id=R).error_message == "pwned"

    assert post_event(finance_run()).status_code == 201

    assert_finances_run()
    attackers_job_is_recorded()
    call_command("lineage_rebuild")
    assert_finances_run()
    attackers_job_is_recorded()


@pytest.mark.parametrize("finance_first", [True, False])
@pytest.mark.django_db
def test_two_limited_tokens_claiming_one_run_id_change_none_of_it_in_either_order(
    post_event, airflow_token, finance_first
):
    finance = create_token(name="finance-only", scope="ingest", namespaces=["finance"]).secret
    sent = [(finance_run(), finance), (forged_failure(), airflow_token)]
    for event, token in sent if finance_first else reversed(sent):
        assert post_event(event, token=token).status_code == 201

    for _ in range(2):  # as derived, then after a rebuild
        run = Run.objects.select_related("job__namespace").get(run_id=R)
        # Neither may change a run the other's job claims: no state, no facets, no inputs or outputs; the row
        # stays under the first claiming job by name, whatever the stamps the senders chose.
        assert (run.state, run.facets, run.error_message, run.ended_at) == ("NEW", {}, "", None)
        assert not RunDataset.objects.filter(run=run).exists()
        assert (run.job.namespace.name, run.job.name) == ATTACKER_JOB  # "airflow" < "finance"
        assert run.job_namespaces == ["airflow", "finance"]
        call_command("lineage_rebuild")

    # An unlimited event (an operator's, say) settles it.
    settled = finance_run()
    settled["eventTime"] = forged_failure()["eventTime"]
    assert post_event(settled).status_code == 201
    run = Run.objects.select_related("job__namespace").get(run_id=R)
    assert (run.state, run.error_message, run.job.namespace.name) == ("COMPLETED", "", "finance")


@pytest.mark.django_db
def test_a_limited_tokens_own_runs_and_a_wide_tokens_claims_still_change_the_run(post_event, airflow_token):
    start = run_event("START", run_id="own-run", job=ATTACKER_JOB)
    end = run_event("FAIL", run_id="own-run", job=ATTACKER_JOB, seconds=5, run_facets=forged_failure()["run"]["facets"])
    assert post_event(end, token=airflow_token).json()["warnings"] == []
    assert post_event(start, token=airflow_token).json()["warnings"] == []
    own = Run.objects.get(run_id="own-run")
    assert (own.state, own.error_message, own.job.name) == ("FAILED", "pwned", "x")

    # A token allowed both namespaces may change a run both claim (the latest job owns it, as before).
    both = create_token(name="both", scope="ingest", namespaces=["airflow", "finance"]).secret
    assert post_event(finance_run()).status_code == 201
    assert post_event(forged_failure(), token=both).json()["warnings"] == []
    run = Run.objects.get(run_id=R)
    assert (run.state, run.error_message, run.job.name) == ("FAILED", "pwned", "x")


def parsed(event: dict):
    return parse_event(event, kind="run", digest=event_hash(event))


def test_the_fold_decides_the_run_from_all_its_claims_whatever_the_order():
    finance, forged = parsed(finance_run()), parsed(forged_failure())
    own = parsed(run_event("START", run_id="own", job=ATTACKER_JOB))
    airflow = frozenset({"airflow"})
    scopes = {forged.digest: airflow, own.digest: airflow}
    expected = fold([finance, forged, own], scopes=scopes)

    run = expected.runs[R]
    assert (run.state, run.job, run.claims) == ("COMPLETED", FINANCE_JOB, frozenset({"airflow", "finance"}))
    assert "errorMessage" not in run.facets.values
    assert (R, ("airflow", "stolen"), "out") not in expected.run_datasets
    assert (ATTACKER_JOB, ("airflow", "stolen"), "out") in expected.job_edges
    assert expected.runs["own"].job == ATTACKER_JOB
    for seed in range(20):
        events = [finance, forged, own, *random.Random(seed).sample([finance, forged, own], 2)]
        random.Random(seed).shuffle(events)
        assert fold(events, scopes=scopes) == expected
    # Claims stored from earlier batches count as this batch's own.
    alone = fold([forged], scopes=scopes, claims={R: frozenset({"finance"})})
    assert alone.runs[R].job is None and alone.runs[R].facets.values == {}


@pytest.mark.django_db
def test_a_batch_that_judged_a_run_before_another_namespaces_claim_was_stored_is_rolled_back(post_event):
    assert post_event(finance_run()).status_code == 201
    forged = parsed(forged_failure())
    # A concurrent deriver that read the run's claims before finance's batch committed: it saw none.
    stale = fold([forged], scopes={forged.digest: frozenset({"airflow"})})
    assert stale.runs[R].state == "FAILED"

    with pytest.raises(StaleClaims), transaction.atomic():
        apply_delta(stale)

    assert_finances_run()  # derive_pending tries such a batch again, with the claims as they are now


# --- Replay of a refused event whose token is gone ---------------------------------------------------------


def refused_event() -> dict:
    forged = dataset(WAREHOUSE, "public.orders", documentation=facet(description="pwned"))
    event = run_event("COMPLETE", run_id="0199a000-0000-7000-8000-0000000f1a01", seconds=60, outputs=[forged])
    del event["run"]["runId"]  # invalid: refused at the door, kept in the quarantine
    return event


@pytest.fixture
def warehouse_table(post_event):
    owned = dataset(WAREHOUSE, "public.orders", documentation=facet(description="Orders, as finance keeps them"))
    response = post_event(run_event("COMPLETE", run_id="finance-run", job=("finance", "load"), outputs=[owned]))
    assert response.status_code == 201
    return Dataset.objects.get(namespace__name=WAREHOUSE, name="public.orders")


def quarantine_then_delete_the_token(post_event, airflow_token) -> QuarantinedEvent:
    response = post_event(refused_event(), token=airflow_token)
    assert response.status_code == 400
    item = QuarantinedEvent.objects.get()
    assert item.namespaces_allowed == ["airflow"]
    ApiToken.objects.filter(name="airflow-only").delete()
    item.refresh_from_db()
    assert item.token is None
    fixed = refused_event()
    fixed["run"]["runId"] = "0199a000-0000-7000-8000-0000000f1a01"
    QuarantinedEvent.objects.filter(pk=item.pk).update(body=orjson.dumps(fixed).decode())
    return item


@pytest.mark.django_db
def test_a_replayed_event_of_a_deleted_limited_token_still_cannot_change_other_namespaces(
    client, cast, post_event, warehouse_table, airflow_token, django_capture_on_commit_callbacks
):
    item = quarantine_then_delete_the_token(post_event, airflow_token)

    login(client, cast["otto"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/quarantine/{item.pk}/replay")

    assert response.status_code == 200
    item.refresh_from_db()
    assert item.status == "replayed" and item.raw_event.namespaces_allowed == ["airflow"]
    assert Dataset.objects.get(pk=warehouse_table.pk).description == "Orders, as finance keeps them"
    assert JobEdge.objects.filter(job__name="etl.load", dataset=warehouse_table).exists()


@pytest.mark.django_db
def test_the_quarantine_command_replays_with_the_recorded_namespaces_too(
    post_event, warehouse_table, airflow_token, django_capture_on_commit_callbacks
):
    item = quarantine_then_delete_the_token(post_event, airflow_token)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("quarantine", "replay", str(item.pk))

    item.refresh_from_db()
    assert item.status == "replayed" and item.raw_event.namespaces_allowed == ["airflow"]
    assert Dataset.objects.get(pk=warehouse_table.pk).description == "Orders, as finance keeps them"


@pytest.mark.django_db
def test_a_replayed_event_of_a_deleted_limited_token_is_still_refused_outside_its_namespaces(post_event, airflow_token):
    event = refused_event()
    event["job"]["namespace"] = "finance"  # the door would have refused it, had it been valid
    assert post_event(event, token=airflow_token).status_code == 400
    item = QuarantinedEvent.objects.get()
    ApiToken.objects.filter(name="airflow-only").delete()
    event["run"]["runId"] = "0199a000-0000-7000-8000-0000000f1a02"
    QuarantinedEvent.objects.filter(pk=item.pk).update(body=orjson.dumps(event).decode())

    result = services.replay_quarantined(item=item)

    assert result.outcome == services.FORBIDDEN and not Run.objects.filter(run_id=event["run"]["runId"]).exists()


@pytest.mark.django_db
def test_the_migration_gives_stored_runs_their_claim_and_quarantined_events_their_tokens_namespaces(post_event):
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("lineage.migrations.0006_run_claims_and_quarantine_scope")
    # The models as that migration knows them (Namespace was still a lineage model then).
    graph = MigrationLoader(connection).graph
    at_the_time = [("lineage", "0006_run_claims_and_quarantine_scope")]
    others = [node for node in graph.leaf_nodes() if node[0] != "lineage"]
    apps = MigrationLoader(connection).project_state(at_the_time + others).apps
    assert post_event(finance_run()).status_code == 201
    Run.objects.update(job_namespaces=[])  # as stored before the rule
    limited = create_token(name="airflow-only", scope="ingest", namespaces=["airflow"]).token
    unlimited = create_token(name="all", scope="ingest").token
    for token in (limited, unlimited, None):
        QuarantinedEvent.objects.create(body="{}", errors=[], reason="x", token=token, source="api")

    migration.backfill(apps, None)

    assert Run.objects.get(run_id=R).job_namespaces == ["finance"]
    allowed = sorted(QuarantinedEvent.objects.values_list("namespaces_allowed", flat=True), key=str)
    assert allowed == [None, None, ["airflow"]]
