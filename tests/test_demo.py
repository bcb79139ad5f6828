"""The demo estate (`lineage.demo`, `manage.py load_demo`) and the demo users (`manage.py create_demo_users`)."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client, override_settings

from lineage import demo
from lineage.ingest import services
from lineage.models import ColumnLineage, Dataset, Job, JobVersion, RawEvent, Run, RunState
from lineage.openlineage import event_hash
from lineage.validation import validate_event

BASE = datetime(2026, 3, 16, tzinfo=UTC)  # any UTC midnight: the generator never reads the clock


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return demo.demo_events(base=BASE)


# --- The generator ---------------------------------------------------------------------------------------


def test_the_same_day_gives_the_same_events():
    assert demo.demo_events(base=BASE) == demo.demo_events(base=BASE)


def test_a_later_day_keeps_the_earlier_days_events_and_adds_the_new_day(events):
    """What load_demo relies on to load only the new days: stories counted from the demo's first day."""
    first_day = (BASE - timedelta(days=demo.DEFAULT_DAYS)).date()
    later = demo.demo_events(base=BASE + timedelta(days=1), days=demo.DEFAULT_DAYS + 1, first_day=first_day)

    earlier_hashes = {event_hash(e) for e in events}
    later_hashes = {event_hash(e) for e in later}
    assert earlier_hashes <= later_hashes
    added = [e for e in later if event_hash(e) not in earlier_hashes]
    assert added
    assert {datetime.fromisoformat(e["eventTime"]).date() for e in added} == {BASE.date()}


def test_every_demo_event_is_valid_with_no_warnings(events):
    problems = []
    for event in events:
        result = validate_event(event)
        problems += [(event["job"]["name"], p.path, p.message) for p in result.errors + result.warnings]
    assert problems == []


def test_the_history_is_a_realistic_size(events):
    assert 1_000 <= len(events) <= 3_000
    dags = {e["job"]["name"] for e in events if e["job"]["facets"]["jobType"]["jobType"] == "DAG"}
    assert 6 <= len(dags) <= 8
    assert {e["job"]["namespace"] for e in events} == {demo.AIRFLOW_PROD, demo.AIRFLOW_FINANCE}
    datasets = {d["namespace"] for e in events for d in e["inputs"] + e["outputs"]}
    assert {demo.ORDERS_DB, demo.WAREHOUSE, demo.SNOWFLAKE, demo.LANDING} <= datasets


def test_task_runs_point_at_their_dag_run_and_every_try_has_its_own_run_id(events):
    dag_runs = {
        (e["job"]["name"], e["run"]["facets"]["airflowDagRun"]["dagRun"]["run_id"]): e["run"]["runId"]
        for e in events
        if e["eventType"] == "START" and e["job"]["facets"]["jobType"]["jobType"] == "DAG"
    }
    tries = {}
    for event in events:
        facets = event["run"]["facets"]
        assert uuid.UUID(event["run"]["runId"]).version == 7
        if event["job"]["facets"]["jobType"]["jobType"] != "TASK":
            continue
        dag_id = facets["airflow"]["dag"]["dag_id"]
        dag_run_id = dag_runs[(dag_id, facets["airflow"]["dagRun"]["run_id"])]
        assert facets["parent"]["run"]["runId"] == dag_run_id
        assert facets["parent"]["root"]["run"]["runId"] == dag_run_id
        assert facets["parent"]["job"] == {"namespace": event["job"]["namespace"], "name": dag_id}
        key = (
            event["job"]["name"],
            facets["airflow"]["dagRun"]["run_id"],
            facets["airflow"]["taskInstance"]["try_number"],
        )
        assert tries.setdefault(key, event["run"]["runId"]) == event["run"]["runId"]
    assert len(set(tries.values())) == len(tries)
    assert any(try_number == 2 for _, _, try_number in tries)


# --- Loaded through ingestion --------------------------------------------------------------------------


def story_time(day: int, hour: int, minute: int = 0) -> datetime:
    """The logical date of a DAG run `day` days into the demo's history as load_demo makes it today."""
    first_day = demo.utc_midnight() - timedelta(days=demo.DEFAULT_DAYS)
    return first_day + timedelta(days=day, hours=hour, minutes=minute)


def runs_of(job_name: str, logical: datetime) -> list[Run]:
    return list(Run.objects.filter(job__name=job_name, nominal_start_time=logical).order_by("started_at"))


@pytest.fixture(scope="class")
def loaded(django_db_setup, django_db_blocker):
    """`load_demo` run once for the class (it takes seconds), rolled back afterwards. Returns its output."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = StringIO()
        call_command("load_demo", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


@pytest.mark.django_db
class TestTheLoadedDemo:
    def test_load_demo_accepts_every_event_and_prints_a_summary(self, loaded):
        generated = len(demo.demo_events(base=demo.utc_midnight()))
        assert f"{generated} events: {generated} accepted, 0 duplicates" in loaded
        assert RawEvent.objects.filter(source="demo").count() == generated
        match = re.search(r"(\d+) datasets, (\d+) jobs and (\d+) runs \((\d+) failed\)", loaded)
        assert match is not None
        datasets, jobs, runs, failed = map(int, match.groups())
        assert (datasets, jobs, runs) == (Dataset.objects.count(), Job.objects.count(), Run.objects.count())
        assert failed == Run.objects.filter(state=RunState.FAILED).count() > 0

    def test_tasks_and_their_queries_are_grouped_under_their_dag(self, loaded):
        tasks = Job.objects.filter(job_type="TASK").select_related("dag")
        assert tasks.count() >= 20
        for task in tasks:
            assert task.dag.job_type == "DAG"
            assert task.dag.name == task.name.split(".")[0]
        query = Job.objects.get(name="finance_reporting.reconcile_payments.query.1")
        assert query.job_type == "QUERY"
        assert query.parent.name == "finance_reporting.reconcile_payments"
        assert query.dag.name == "finance_reporting"
        assert query.namespace.name == demo.AIRFLOW_FINANCE

    def test_column_lineage_is_derived_from_the_sql_tasks(self, loaded):
        def lineage(output: str, field: str) -> dict[tuple[str, str], list]:
            rows = ColumnLineage.objects.filter(output_dataset__name=output, output_field=field)
            return {(r.input_dataset.name, r.input_field): r.transformations for r in rows}

        assert lineage("analytics.marts.dim_customers", "email") == {
            ("analytics.staging.stg_customers", "email"): [{"type": "DIRECT", "subtype": "IDENTITY", "masking": False}]
        }
        hashed = lineage("analytics.marts.crm_audience", "email_sha256")
        assert hashed[("analytics.marts.dim_customers", "email")][0]["masking"] is True
        # Joins and filters are dependencies of the whole output.
        assert ("analytics.staging.stg_crm_contacts", "email") in lineage("analytics.marts.dim_customers", "")
        assert ColumnLineage.objects.count() > 150

    def test_a_failed_try_is_retried_under_a_new_run_id(self, loaded):
        logical = story_time(demo.PAYMENTS_TIMEOUT_DAY, 1)
        first, second = runs_of("ingest_orders_db.load_payments", logical)
        assert (first.state, second.state) == (RunState.FAILED, RunState.COMPLETED)
        assert "port 5432 failed: Connection timed out" in first.error_message
        assert [r.facets["airflow"]["taskInstance"]["try_number"] for r in (first, second)] == [1, 2]
        assert first.parent_run_id == second.parent_run_id
        (dag_run,) = runs_of("ingest_orders_db", logical)
        assert dag_run.run_id == first.parent_run_id
        assert dag_run.state == RunState.COMPLETED

    def test_a_dag_run_fails_when_a_task_runs_out_of_retries(self, loaded):
        logical = story_time(demo.RECONCILIATION_FAILURE_DAY, 6)
        (dag_run,) = runs_of("finance_reporting", logical)
        assert dag_run.state == RunState.FAILED
        assert dag_run.error_message == "task_failure"
        tries = runs_of("finance_reporting.reconcile_payments", logical)
        assert [r.state for r in tries] == [RunState.FAILED, RunState.FAILED]
        assert all("Numeric value 'N/A' is not recognized" in r.error_message for r in tries)
        # The query that failed inside the task failed too; tasks after it never ran.
        failed_queries = Run.objects.filter(parent_run_id__in=[r.run_id for r in tries], state=RunState.FAILED)
        assert failed_queries.count() == 2
        assert runs_of("finance_reporting.build_monthly_revenue", logical) == []

    def test_the_added_column_shows_in_the_schema_and_not_in_older_versions(self, loaded):
        raw_customers = Dataset.objects.get(name="analytics.raw.customers")
        assert "marketing_opt_in" in raw_customers.schema_fields.values_list("name", flat=True)
        versions = list(raw_customers.versions.order_by("created_at"))
        names = [{f["name"] for f in v.fields} for v in versions]
        assert "marketing_opt_in" not in names[0]
        assert "marketing_opt_in" in names[-1]
        changed = next(v for v, n in zip(versions, names, strict=True) if "marketing_opt_in" in n)
        assert changed.created_at.date() == story_time(demo.OPT_IN_COLUMN_DAY, 0).date()

    def test_the_migrated_task_has_a_job_version_per_output(self, loaded):
        versions = JobVersion.objects.filter(job__name="build_marts.build_daily_revenue").order_by("created_at")
        outputs = [[(o["namespace"], o["name"]) for o in v.outputs] for v in versions]
        assert outputs == [
            [(demo.WAREHOUSE, "analytics.marts.daily_revenue")],
            [(demo.SNOWFLAKE, "ANALYTICS.MARTS.DAILY_REVENUE")],
        ]
        assert versions[1].created_at.date() == story_time(demo.SNOWFLAKE_MIGRATION_DAY, 0).date()

    def test_running_load_demo_again_adds_no_raw_events(self, loaded):
        before = RawEvent.objects.count()
        out = StringIO()
        call_command("load_demo", stdout=out)
        assert RawEvent.objects.count() == before
        assert f"0 accepted, {before} duplicates" in out.getvalue()


@pytest.mark.django_db
def test_on_a_later_day_load_demo_adds_only_the_new_day():
    # What `load_demo` stored yesterday: the same generator, through the same ingestion.
    yesterday = demo.utc_midnight() - timedelta(days=1)
    for event in demo.demo_events(base=yesterday):
        services.ingest_event(event=event, source="demo", derive=False)
    stored = RawEvent.objects.count()

    out = StringIO()
    call_command("load_demo", stdout=out)

    added = list(RawEvent.objects.filter(source="demo").order_by("pk")[stored:])
    assert added
    assert {event.event_time.date() for event in added} == {yesterday.date()}
    generated = len(
        demo.demo_events(base=demo.utc_midnight(), first_day=(yesterday - timedelta(days=demo.DEFAULT_DAYS)).date())
    )
    assert f"{generated} events: {len(added)} accepted, {generated - len(added)} duplicates" in out.getvalue()


# --- Demo users ----------------------------------------------------------------------------------------


def printed_logins(output: str) -> dict[str, str]:
    """username -> password, read from the table the command prints."""
    rows = output.split("(TOTP key)\n", 1)[1].split("\n\n")[0].splitlines()
    return {cells[1]: cells[2] for cells in (row.split() for row in rows) if len(cells) == 4}


@pytest.fixture
def embedded(settings):
    settings.TRIBUTARY_EMBEDDED = True


def create_demo_users() -> str:
    out = StringIO()
    call_command("create_demo_users", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_demo_users_makes_one_user_per_role_in_its_group(embedded):
    create_demo_users()
    users = get_user_model().objects.filter(username__in=[g.name for g in Group.objects.all()])
    roles = {user.username: list(user.groups.values_list("name", flat=True)) for user in users}
    assert roles == {role: [role] for role in ("viewer", "steward", "operator", "developer", "auditor", "admin")}
    staff = {user.username for user in users if user.is_staff or user.is_superuser}
    assert staff == {"admin"}
    assert get_user_model().objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_each_demo_user_logs_in_with_the_printed_password(embedded):
    logins = printed_logins(create_demo_users())
    assert set(logins) == {"viewer", "steward", "operator", "developer", "auditor", "admin"}
    for username, password in logins.items():
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 302, username
        assert client.session["_auth_user_id"] == str(get_user_model().objects.get(username=username).pk)


@pytest.mark.django_db
def test_only_the_demo_admin_opens_the_admin_site(embedded):
    logins = printed_logins(create_demo_users())
    admin, viewer = Client(), Client()
    admin.post("/accounts/login/", {"username": "admin", "password": logins["admin"]})
    assert admin.get("/admin/").url.startswith("/account/mfa/verify/")  # the second factor first
    code = StringIO()
    call_command("demo_totp_code", "admin", stdout=code)
    admin.post("/account/mfa/verify/", {"code": code.getvalue().strip()})
    viewer.post("/accounts/login/", {"username": "viewer", "password": logins["viewer"]})
    assert admin.get("/admin/").status_code == 200
    assert viewer.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_running_it_again_resets_passwords_and_roles(embedded):
    create_demo_users()
    viewer = get_user_model().objects.get(username="viewer")
    viewer.set_password("someone-changed-it")
    viewer.is_staff = True
    viewer.save()
    viewer.groups.add(Group.objects.get(name="admin"))

    output = create_demo_users()

    assert "Reset the passwords and roles of existing demo users: viewer" in output
    viewer.refresh_from_db()
    assert viewer.check_password(printed_logins(output)["viewer"])
    assert not viewer.is_staff
    assert list(viewer.groups.values_list("name", flat=True)) == ["viewer"]
    assert get_user_model().objects.filter(username="viewer").count() == 1


@pytest.mark.django_db
@override_settings(DEBUG=False, DATABASE_URL="postgresql://db.acme.example:5432/tributary", TRIBUTARY_EMBEDDED=False)
def test_create_demo_users_refuses_production_settings():
    with pytest.raises(CommandError, match="refusing to touch demo users"):
        create_demo_users()
    assert not get_user_model().objects.filter(username="admin").exists()


@pytest.mark.django_db
@override_settings(DEBUG=True, DATABASE_URL="postgresql://127.0.0.1:5432/tributary", TRIBUTARY_EMBEDDED=False)
def test_create_demo_users_runs_on_a_server_database_in_debug_mode():
    assert "Created demo users" in create_demo_users()
