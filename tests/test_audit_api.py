"""Reading the audit trail: GET /api/v1/audit (pages and streaming exports), the /audit/ page, verify."""

import csv
import io
import tracemalloc
from datetime import timedelta

import orjson
import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance import audit, auditchain
from governance.models import AuditRecord
from governance.tokens import create_token

from .audit_cast import cast, tamper  # noqa: F401
from .conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(client, cast):  # noqa: F811
    """alice, logged in: her login is record 1."""
    login(client, cast.alice)
    return client


def seeded() -> list[int]:
    """Sequences of the records `seed` made, oldest first (logins and users made by fixtures come before)."""
    return list(
        AuditRecord.objects.filter(action="metadata.updated").order_by("sequence").values_list("sequence", flat=True)
    )


def seed(count: int, **extra) -> None:
    audit.bulk_append(
        {
            "action": "metadata.updated",
            "actor": f"user{n % 7}",
            "target": ("lineage.dataset", n, f"warehouse.mart.table_{n}"),
            "changes": {"description": {"before": f"old text {n}", "after": f"new text {n}"}},
            **extra,
        }
        for n in range(count)
    )


# Who may read it.


def test_anonymous_callers_are_refused(client, db):
    assert client.get("/api/v1/audit").status_code in (401, 403)
    assert client.post("/api/v1/audit/verify").status_code in (401, 403)


@pytest.mark.parametrize("name", ["bob", "charlie"])
def test_users_without_the_auditor_or_admin_role_are_refused(client, cast, name):  # noqa: F811
    login(client, getattr(cast, name))
    assert client.get("/api/v1/audit").status_code == 403
    assert client.get("/api/v1/audit?format=csv").status_code == 403
    assert client.post("/api/v1/audit/verify", {}, content_type="application/json").status_code == 403
    assert client.get("/audit/").status_code == 403


@pytest.mark.parametrize("name", ["alice", "ada"])
def test_auditors_and_admins_can_read_it(client, cast, name):  # noqa: F811
    login(client, getattr(cast, name))
    assert client.get("/api/v1/audit").status_code == 200
    assert client.get("/audit/").status_code == 200


def test_only_a_governance_read_token_reads_the_trail_with_its_owners_roles(client, cast):  # noqa: F811
    TOTPDevice.objects.create(user=cast.alice, name="phone", confirmed=True)
    alices = create_token(name="alice-tool", scope="governance-read", owner=cast.alice).secret
    alices_reader = create_token(name="alice-script", scope="read", owner=cast.alice).secret
    ownerless = create_token(name="script", scope="read").secret
    assert client.get("/api/v1/audit", HTTP_AUTHORIZATION=f"Bearer {alices}").status_code == 200
    assert client.get("/api/v1/audit", HTTP_AUTHORIZATION=f"Bearer {alices_reader}").status_code == 403
    assert client.get("/api/v1/audit", HTTP_AUTHORIZATION=f"Bearer {ownerless}").status_code == 403


# Filters and pages.


def test_records_come_newest_first_in_pages(auditor):
    seed(30)
    body = auditor.get("/api/v1/audit?action=metadata.updated&limit=10&offset=5").json()
    assert body["totalCount"] == 30 and (body["limit"], body["offset"]) == (10, 5)
    assert [r["sequence"] for r in body["records"]] == seeded()[::-1][5:15]
    first = body["records"][0]
    assert first["object_name"] == "warehouse.mart.table_24"
    assert first["changes"] == {"description": {"before": "old text 24", "after": "new text 24"}}
    assert auditchain.entry_hash(first) == first["hash"]  # what the API shows is what was hashed


def test_filters_narrow_by_actor_action_object_and_outcome(auditor, cast):  # noqa: F811
    seed(14)
    audit.record("auth.login_failed", actor="anonymous", outcome="failure", detail={"username": "mallory"})
    audit.record("auth.login", actor=cast.ada, target=cast.ada)

    def found(query: str) -> list[str]:
        body = auditor.get(f"/api/v1/audit?{query}").json()
        return sorted(f"{r['action']}:{r['actor']}:{r['object_id']}" for r in body["records"])

    assert found("actor=user3") == ["metadata.updated:user3:10", "metadata.updated:user3:3"]
    assert found("action=auth.*") == [
        f"auth.login:ada:{cast.ada.pk}",
        f"auth.login:alice:{cast.alice.pk}",
        "auth.login_failed:anonymous:",
    ]
    assert found("outcome=failure") == ["auth.login_failed:anonymous:"]
    assert found("object=lineage.dataset:7") == ["metadata.updated:user0:7"]
    assert found("object=table_13") == ["metadata.updated:user6:13"]
    assert found("actor=ada&action=auth.login") == ["auth.login:ada:" + str(cast.ada.pk)]


def test_time_filters_take_iso_dates(auditor):
    seed(3)
    third = seeded()[2]
    middle = AuditRecord.objects.get(sequence=third).time
    after = (middle - timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    before = (middle + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    body = auditor.get("/api/v1/audit", {"after": after, "before": before, "action": "metadata.updated"}).json()
    assert [r["sequence"] for r in body["records"]] == [third]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("outcome=maybe", "outcome"), ("after=yesterday", "after"), ("limit=0", "limit"), ("format=xml", "format")],
)
def test_a_bad_parameter_is_a_400_naming_it(auditor, query, parameter):
    response = auditor.get(f"/api/v1/audit?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == parameter


# Exports.


def test_a_csv_export_streams_every_matching_record_and_is_itself_recorded(auditor):
    seed(5)
    response = auditor.get("/api/v1/audit?format=csv&action=metadata.updated")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="audit-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["sequence"]) for r in rows] == seeded()  # oldest first, in chain order
    assert orjson.loads(rows[0]["changes"]) == {"description": {"before": "old text 0", "after": "new text 0"}}
    exported = AuditRecord.objects.get(action="audit.exported")
    assert exported.actor_label == "alice"
    assert exported.detail == {"format": "csv", "filters": {"action": "metadata.updated"}, "via": "api"}


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(auditor, client):
    client.post("/accounts/login/", {"username": '=HYPERLINK("http://evil")', "password": "x"})
    response = auditor.get("/api/v1/audit?format=csv&action=auth.login_failed")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["object_name"] == '\'=HYPERLINK("http://evil")'


def test_a_jsonl_export_verifies_offline(auditor):
    seed(20)
    response = auditor.get("/api/v1/audit?format=jsonl")
    assert response["Content-Type"] == "application/jsonl"
    lines = b"".join(response.streaming_content).splitlines()
    result = auditchain.verify_export(lines)
    assert result.ok and result.chain.count == AuditRecord.objects.count()  # the export's own record included


@pytest.mark.slow
def test_exporting_200000_records_streams_them_in_bounded_memory(auditor):
    total = 200_000
    before = AuditRecord.objects.count()  # fixtures' users, roles and logins
    seed(total)
    for fmt in ("csv", "jsonl"):
        # A first, empty export imports and sets up what any request needs, which is not the export's to carry.
        b"".join(auditor.get(f"/api/v1/audit?format={fmt}&action=none").streaming_content)
        tracemalloc.start()
        try:
            response = auditor.get(f"/api/v1/audit?format={fmt}")
            assert isinstance(response, StreamingHttpResponse)
            lines = size = 0
            for chunk in response.streaming_content:
                lines += chunk.count(b"\n")
                size += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        exported = AuditRecord.objects.filter(action="audit.exported").count()
        # Every record: the fixtures', the 200,000 and the exports so far (this one and the warm-ups included),
        # + the CSV header.
        assert lines == before + total + exported + (fmt == "csv")
        # Loaded whole, the rows would take hundreds of MiB (the file alone is 60-100 MiB); streamed, the
        # peak is a few batches of rows.
        assert size > 50 * 2**20
        assert peak < 32 * 2**20, f"{fmt}: peak {peak / 2**20:.1f} MiB"


# The page.


def test_the_auditor_page_shows_filters_timeline_and_diffs(auditor):
    seed(3)
    audit.record(
        "connection.updated", actor="dev", changes=audit.diff({"password": "a"}, {"password": "b"}), detail={"x": 1}
    )
    page = auditor.get("/audit/?actor=user1").content.decode()
    assert 'name="actor" value="user1"' in page
    assert "warehouse.mart.table_1" in page and "warehouse.mart.table_2" not in page
    assert "old text 1" in page and "new text 1" in page
    user1 = seeded()[1]
    assert f'data-first="{user1}" data-last="{user1}"' in page
    page = auditor.get("/audit/").content.decode()
    first, last = seeded()[0], AuditRecord.objects.order_by("-sequence").first().sequence
    assert page.index(f'id="record-{last}"') < page.index(f'id="record-{first}"')  # newest first
    assert "<em>changed</em> (secret)" in page
    assert f"Verify integrity of records {AuditRecord.objects.order_by('sequence').first().sequence}–{last}" in page


def test_a_bad_filter_on_the_page_is_shown_not_a_crash(auditor):
    response = auditor.get("/audit/?after=soon")
    assert response.status_code == 200 and "after: must be an ISO 8601 date-time" in response.content.decode()


def test_anonymous_visitors_of_the_page_are_sent_to_log_in(client, db):
    response = client.get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_verify_button_checks_the_shown_range_with_csrf(cast):  # noqa: F811
    seed(8)
    browser = Client(enforce_csrf_checks=True)
    login(browser, cast.alice)
    browser.get("/audit/")
    token = browser.cookies["csrftoken"].value
    assert (
        browser.post("/api/v1/audit/verify", {"first": 2, "last": 6}, content_type="application/json").status_code
        == 403
    )
    response = browser.post(
        "/api/v1/audit/verify", {"first": 2, "last": 6}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "count": 5, "first": 2, "last": 6, "broken": None}
    assert AuditRecord.objects.filter(action="audit.verified", actor_label="alice").exists()

    tamper("UPDATE governance_auditrecord SET object_name = 'forged' WHERE sequence = 4")
    body = browser.post(
        "/api/v1/audit/verify", {"first": 2, "last": 6}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    ).json()
    assert body["ok"] is False and body["broken"]["sequence"] == 4
    assert "content does not match its hash" in body["broken"]["reason"]


def test_the_openapi_schema_describes_the_audit_endpoints(client, cast):  # noqa: F811
    login(client, cast.bob)
    schema = client.get("/api/schema/?format=json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert {"actor", "action", "object", "outcome", "after", "before", "limit", "offset", "format"} <= parameters
    assert "/api/v1/audit/verify" in schema["paths"]
