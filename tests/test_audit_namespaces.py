"""An auditor narrowed to some namespaces reads the audit records about objects of those namespaces alone: the API,
its CSV and JSON-lines exports, and the /audit/ page. Records about no namespace (logins, users, roles, tokens of
every namespace) are for unnarrowed auditors and admins."""

import importlib

import orjson
import pytest
from django.db import connection

from governance import audit
from governance.connections import connection_create, connection_update
from governance.models import AuditRecord
from governance.tokens import create_token
from lineage.annotations import update_metadata

from .audit_cast import tamper
from .conftest import login, make_user

pytestmark = pytest.mark.django_db

OTHER = "postgres://warehouse:5432"


@pytest.fixture
def trail(cast):
    """Records about airflow, about the warehouse, about both, and about no namespace."""
    ada, stan = cast["ada"], cast["stan"]
    update_metadata(kind="dataset", namespace="airflow", name="orders", changes={"description": "ok"}, user=stan)
    update_metadata(kind="dataset", namespace=OTHER, name="payroll", changes={"description": "secret"}, user=stan)
    create_token(name="airflow-reader", scope="read", namespaces=["airflow"], actor=ada)
    create_token(name="warehouse-loader", scope="ingest", namespaces=[OTHER], actor=ada)
    create_token(name="everywhere", scope="ingest", actor=ada)
    connection_create(slug="airflow_db", values={"host": "af", "namespaces": ["airflow"]}, user=ada)
    both = connection_create(slug="shared_db", values={"host": "sh", "namespaces": ["airflow", OTHER]}, user=ada)
    moved = connection_create(slug="moved_db", values={"host": "mv", "namespaces": [OTHER]}, user=ada)
    connection_update(connection=moved, values={"namespaces": ["airflow"]}, user=ada)
    return {"both": both, "moved": moved}


@pytest.fixture
def narrowed(client, trail):
    """aud2 audits the airflow namespace only (the grant is itself a record about airflow)."""
    return login(client, make_user("aud2", "auditor", namespaces=("airflow",)))


def names_in(records: list[dict]) -> set[str]:
    return {item["object_name"].split(" (")[0] for item in records}  # a token reads "name (prefix…, scope)"


def test_records_name_the_namespaces_of_their_target(trail):
    by_name = {item.object_name.split(" (")[0]: item.namespaces for item in AuditRecord.objects.exclude(object_name="")}
    assert by_name["orders"] == ["airflow"] and by_name["payroll"] == [OTHER]
    assert by_name["airflow-reader"] == ["airflow"] and by_name["warehouse-loader"] == [OTHER]
    assert by_name["everywhere"] is None  # a token of every namespace belongs to none of them
    assert by_name["shared_db"] == sorted(["airflow", OTHER])
    moved = AuditRecord.objects.filter(action="connection.updated", object_name="moved_db").get()
    assert moved.namespaces == sorted(["airflow", OTHER])  # it is about the namespace it left, too
    assert AuditRecord.objects.filter(action="user.created", namespaces__isnull=True).exists()
    assert audit.verify_chain().ok  # the namespaces are outside the hash


def test_a_narrowed_auditor_reads_only_the_records_about_their_namespaces(narrowed):
    records = narrowed.get("/api/v1/audit?limit=1000").json()["records"]
    assert names_in(records) == {"orders", "airflow-reader", "airflow_db", "airflow"}
    assert {item["action"] for item in records} >= {"metadata.updated", "token.created", "grant.added"}
    body = narrowed.get("/api/v1/audit?limit=1000").content.decode()
    assert "payroll" not in body and "warehouse" not in body and "auth.login" not in body
    assert "shared_db" not in body and "moved_db" not in body and "everywhere" not in body
    assert narrowed.get("/api/v1/audit?object=payroll").json()["totalCount"] == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_narrowed_auditors_export_holds_only_the_records_about_their_namespaces(narrowed, fmt):
    response = narrowed.get(f"/api/v1/audit?format={fmt}")
    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and "orders" in body and "airflow_db" in body
    assert "payroll" not in body and "warehouse" not in body and "auth.login" not in body


def test_a_narrowed_auditors_page_shows_only_the_records_about_their_namespaces(narrowed):
    page = narrowed.get("/audit/").content.decode()
    assert "orders" in page and "airflow_db" in page
    assert "payroll" not in page and "warehouse" not in page and "shared_db" not in page


def test_an_auditor_of_every_namespace_reads_every_record(as_user, trail):
    auditor = as_user("audrey")
    records = auditor.get("/api/v1/audit?limit=1000").json()["records"]
    assert {"orders", "payroll", "shared_db", "moved_db", "everywhere"} <= names_in(records)
    assert "auth.login" in {item["action"] for item in records}


def test_the_migration_fills_in_the_namespaces_of_records_written_before(trail, cast):
    update_metadata(kind="job", namespace="airflow", name="etl.load", changes={"description": "x"}, user=cast["stan"])
    expected = dict(AuditRecord.objects.values_list("sequence", "namespaces"))
    hashes = dict(AuditRecord.objects.values_list("sequence", "hash"))
    tamper("UPDATE governance_auditrecord SET namespaces = NULL")

    from django.apps import apps

    backfill = importlib.import_module("governance.migrations.0010_audit_record_namespaces").backfill
    backfill(apps, SchemaEditor())

    filled = dict(AuditRecord.objects.values_list("sequence", "namespaces"))
    # From the targets as they are now: a connection that moved since counts its namespaces then and now, which
    # only ever hides a record from more narrowed auditors, never shows it to one more.
    assert {n for n, names in filled.items() if names} == {n for n, names in expected.items() if names}
    assert all(set(expected[n]) <= set(names) for n, names in filled.items() if names)
    moved = AuditRecord.objects.get(action="connection.created", object_name="moved_db").sequence
    assert (expected[moved], filled[moved]) == ([OTHER], sorted(["airflow", OTHER]))
    assert sum(filled[n] != expected[n] for n in filled) == 1
    assert dict(AuditRecord.objects.values_list("sequence", "hash")) == hashes
    assert audit.verify_chain().ok
    if connection.vendor == "postgresql":  # and the append-only trigger is armed again
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'governance_auditrecord_append_only'")
            assert cursor.fetchone()[0] == "O"


class SchemaEditor:
    """What the migration's RunPython uses of its schema editor: the connection, and running a statement."""

    connection = connection

    def execute(self, sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_records_keep_their_shape_in_the_export(narrowed):
    first = b"".join(narrowed.get("/api/v1/audit?format=jsonl").streaming_content).splitlines()[0]
    assert "namespaces" not in orjson.loads(first)  # the export is the hashed content, as before
