"""What is recorded today: logins, logouts, refusals, tokens, quarantine replays."""

from io import StringIO

import orjson
import pytest
from django.core.management import call_command

from governance import audit
from governance.models import AuditRecord
from governance.tokens import authenticate_secret, create_token, revoke_token
from lineage.models import QuarantinedEvent, RawEvent

from .audit_cast import PASSWORD, actions, cast, member, serialised  # noqa: F401
from .conftest import INVALID_DIR, load_event, login

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def last(action: str) -> AuditRecord:
    return AuditRecord.objects.filter(action=action).latest("sequence")


def test_a_login_is_recorded_with_the_user_and_where_from(client, cast):  # noqa: F811
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": PASSWORD},
        HTTP_USER_AGENT=BROWSER,
        REMOTE_ADDR="198.51.100.20",
    )
    assert response.status_code == 302
    item = last("auth.login")
    assert (item.actor_label, item.actor_id, item.outcome) == ("alice", cast.alice.pk, "success")
    assert (item.source_ip, item.user_agent) == ("198.51.100.20", BROWSER)
    assert item.request_id == response["X-Request-ID"]


def test_a_failed_login_records_the_name_tried_and_never_the_password(client, cast):  # noqa: F811
    wrong = "Tr0ub4dor&3-not-it"
    response = client.post("/accounts/login/", {"username": "alice", "password": wrong}, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200  # the form again, with an error
    item = last("auth.login_failed")
    assert (item.actor_label, item.outcome) == ("anonymous", "failure")
    assert item.detail == {"username": "alice"}
    assert (item.object_type, item.object_id) == ("auth.user", str(cast.alice.pk))
    assert wrong not in serialised(item)
    assert "*****" not in serialised(item)  # not even Django's mask of it


def test_a_failed_login_for_an_unknown_name_is_recorded_too(client, db):
    client.post("/accounts/login/", {"username": "mallory", "password": "guess-guess-guess"})
    item = last("auth.login_failed")
    assert item.detail == {"username": "mallory"} and item.object_id == ""


def test_a_logout_is_recorded(client, cast):  # noqa: F811
    login(client, cast.bob)
    client.post("/accounts/logout/")
    item = last("auth.logout")
    assert item.actor_label == "bob" and item.object_id == str(cast.bob.pk)


def test_session_expiry_is_recorded_by_the_function_the_session_policy_calls(rf, cast):  # noqa: F811
    request = rf.get("/", REMOTE_ADDR="192.0.2.1")
    item = audit.record_session_expired(user=cast.bob, request=request, reason="idle")
    assert (item.action, item.actor_label, item.detail, item.source_ip) == (
        "auth.session_expired",
        "bob",
        {"reason": "idle"},
        "192.0.2.1",
    )


def test_an_api_refusal_is_recorded_as_access_denied(client, cast):  # noqa: F811
    login(client, cast.bob)
    assert client.get("/api/v1/audit", REMOTE_ADDR="203.0.113.5").status_code == 403
    item = last("access.denied")
    assert (item.actor_label, item.outcome, item.source_ip) == ("bob", "denied", "203.0.113.5")
    assert item.detail["method"] == "GET" and item.detail["path"] == "/api/v1/audit"


def test_a_page_refusal_is_recorded_as_access_denied(client, cast):  # noqa: F811
    login(client, cast.charlie)
    assert client.get("/audit/").status_code == 403
    item = last("access.denied")
    assert item.actor_label == "charlie" and item.detail["path"] == "/audit/"


def test_token_creation_revocation_and_first_use_are_recorded_without_the_secret(cast):  # noqa: F811
    issued = create_token(name="airflow-prod", scope="ingest", namespaces=["sales"], owner=cast.ada, actor=cast.ada)
    created = last("token.created")
    assert created.actor_label == "ada"
    assert (created.object_type, created.object_id) == ("governance.apitoken", str(issued.token.pk))
    assert created.changes["scope"] == {"before": None, "after": "ingest"}
    assert created.changes["namespaces"] == {"before": None, "after": ["sales"]}

    authenticate_secret(issued.secret)
    authenticate_secret(issued.secret)
    first_use = AuditRecord.objects.get(action="token.first_use")  # once, not per request
    assert first_use.actor_label == f"token:{issued.token.prefix}"
    assert first_use.actor_id == cast.ada.pk  # the owner answers for the token

    revoke_token(token=issued.token, actor=cast.ada)
    revoke_token(token=issued.token, actor=cast.ada)  # already revoked: nothing happens, nothing recorded
    revoked = AuditRecord.objects.get(action="token.revoked")
    assert revoked.changes["revoked_at"]["before"] is None and revoked.changes["revoked_at"]["after"]

    for item in AuditRecord.objects.all():
        text = serialised(item)
        assert issued.secret not in text
        assert issued.token.digest not in text


def test_the_first_use_of_a_token_over_http_records_where_it_came_from(client, db):
    issued = create_token(name="airflow", scope="ingest")
    for _ in range(2):
        response = client.generic(
            "POST",
            "/api/v1/lineage",
            orjson.dumps(load_event("airflow_bq_dag_start.json")),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
            HTTP_USER_AGENT="openlineage-python/1.30",
            REMOTE_ADDR="10.1.2.3",
        )
        assert response.status_code in (200, 201)
    item = AuditRecord.objects.get(action="token.first_use")
    assert (item.actor_label, item.source_ip, item.user_agent) == (
        f"token:{issued.token.prefix}",
        "10.1.2.3",
        "openlineage-python/1.30",
    )
    assert issued.secret not in serialised(item)


def test_create_token_on_the_command_line_is_recorded_as_the_cli_user(db):
    out = StringIO()
    call_command("create_token", "--name", "ci", "--scope", "read", stdout=out, stderr=StringIO())
    secret = out.getvalue().strip().splitlines()[-1]
    item = last("token.created")
    assert item.actor_label.startswith("cli")
    assert secret not in serialised(item)


def quarantined_valid_event() -> QuarantinedEvent:
    """A refused event that Tributary would now accept (as after a fix): what replay is for."""
    body = orjson.dumps(load_event("airflow_bq_dag_start.json")).decode()
    return QuarantinedEvent.objects.create(body=body, errors=[], reason="was refused", source="api")


def test_a_replay_from_the_admin_is_recorded_with_the_admin(admin_client, admin_user):
    item = quarantined_valid_event()
    response = admin_client.post(
        "/admin/lineage/quarantinedevent/", {"action": "replay", "_selected_action": [item.pk]}, follow=True
    )
    assert response.status_code == 200
    record = last("quarantine.replayed")
    assert (record.actor_label, record.actor_id, record.outcome) == (admin_user.username, admin_user.pk, "success")
    assert (record.object_type, record.object_id) == ("lineage.quarantinedevent", str(item.pk))
    assert record.changes == {"status": {"before": "pending", "after": "replayed"}}
    assert record.detail["raw_event_id"] == RawEvent.objects.get().pk


def test_a_replay_from_the_command_line_that_is_refused_again_is_recorded_as_a_failure(db):
    body = orjson.dumps(load_event("event_no_run_id.json", INVALID_DIR)).decode()
    item = QuarantinedEvent.objects.create(body=body, errors=[], reason="no runId", source="api")
    call_command("quarantine", "replay", str(item.pk), stdout=StringIO(), stderr=StringIO())
    record = last("quarantine.replayed")
    assert record.actor_label.startswith("cli") and record.outcome == "failure"
    assert record.changes is None  # still pending: nothing changed
    assert "/run/runId" in record.detail["reason"]


def test_a_replay_and_its_record_roll_back_together(monkeypatch, db):
    from lineage.ingest import services

    item = quarantined_valid_event()

    def refuse(*args, **kwargs):
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(services.audit, "record", refuse)
    with pytest.raises(RuntimeError):
        services.replay_quarantined(item=item, actor="cli:test")
    item.refresh_from_db()
    assert item.status == "pending"
    assert not RawEvent.objects.exists()


def test_actions_recorded_so_far_are_all_in_the_table(client, cast):  # noqa: F811
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    client.post("/accounts/logout/")
    assert set(actions()) <= set(audit.ACTIONS)


def test_dataset_metadata_is_not_editable_in_django_admin_where_it_would_escape_the_audit(admin_client):
    from lineage.models import Annotation

    note = Annotation.objects.create(kind="dataset", namespace="pg://db", name="orders", description="Orders")
    page = admin_client.get(f"/admin/lineage/annotation/{note.pk}/change/").content.decode()
    assert 'href="/datasets/pg://db/orders"' in page and 'name="description"' not in page
    changed = admin_client.post(f"/admin/lineage/annotation/{note.pk}/change/", {"description": "unrecorded"})
    assert changed.status_code == 403
    assert admin_client.post(f"/admin/lineage/annotation/{note.pk}/delete/", {"post": "yes"}).status_code == 403
    note.refresh_from_db()
    assert note.description == "Orders"
