"""Attacks on connection secrets: sending a stored password to a server of one's own, guessing the password that
re-authentication asks for, re-authenticating past the second factor, and revealed secrets kept by a cache."""

import contextlib
import json
import re
import socket
import struct
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from governance.models import AuditRecord, Connection

from .conftest import login, make_user
from .test_connections import EXTRA, PASSWORD, create, reauth, totp_code

pytestmark = pytest.mark.django_db

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


class FakePostgres:
    """A server that speaks just enough of PostgreSQL's startup protocol to ask for a cleartext password
    (AuthenticationCleartextPassword) and write down every password a client sends it."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.passwords: list[str] = []
        self.startups = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                peer, _ = self.listener.accept()
            except OSError:
                return
            with peer:
                peer.settimeout(5)
                with contextlib.suppress(OSError, struct.error):  # a client that hangs up
                    self._session(peer)

    @staticmethod
    def _read(peer, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = peer.recv(count - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _session(self, peer):
        while True:  # SSLRequest / GSSENCRequest first, perhaps: "no", then the startup message
            length, code = struct.unpack("!ii", self._read(peer, 8))
            self._read(peer, length - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                peer.sendall(b"N")
                continue
            break
        self.startups += 1
        peer.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = self._read(peer, 1)
        (length,) = struct.unpack("!i", self._read(peer, 4))
        body = self._read(peer, length - 4)
        if kind == b"p":
            self.passwords.append(body.rstrip(b"\0").decode())
        fields = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0"
        peer.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)

    def close(self):
        self.listener.close()


@pytest.fixture
def fake_postgres():
    server = FakePostgres()
    yield server
    server.close()


@pytest.fixture
def devi(client):
    user = make_user("devi", "developer")
    login(client, user)
    create(client)
    return user


def reveals(username="devi"):
    return list(
        AuditRecord.objects.filter(action="connection.revealed", actor_label=username)
        .order_by("sequence")
        .values_list("outcome", "detail")
    )


def patch(client, body):
    return client.patch("/api/v1/connections/warehouse", body, content_type="application/json")


# --- Moving the endpoint of a stored secret -------------------------------------------------------------------


def test_developer_cannot_redirect_a_stored_password_without_reauthentication(client, devi, fake_postgres):
    refused = client.post("/api/v1/connections/warehouse/reveal")
    assert refused.status_code == 403 and refused.json()["reauthenticate"] is True

    moved = patch(client, {"host": "127.0.0.1", "port": fake_postgres.port})
    assert moved.status_code == 403 and moved.json()["reauthenticate"] is True
    assert "re-authenticate first" in moved.json()["detail"] and PASSWORD not in moved.content.decode()
    assert Connection.objects.get().port == 5432  # nothing changed

    client.post("/api/v1/connections/warehouse/test")
    assert fake_postgres.startups == 0 and fake_postgres.passwords == []
    assert reveals()[-1] == (
        "denied",
        {"reason": "endpoint change without re-authentication", "fields": ["port"], "secrets": ["password", "extra"]},
    )
    assert not AuditRecord.objects.filter(action="connection.updated").exists()


def test_with_fresh_reauthentication_the_endpoint_change_is_allowed_and_recorded_as_a_reveal(
    client, devi, fake_postgres
):
    reauth(client)
    assert patch(client, {"host": "127.0.0.1", "port": fake_postgres.port}).status_code == 200
    assert reveals()[-1] == (
        "success",
        {"reason": "endpoint change", "fields": ["port"], "secrets": ["password", "extra"]},
    )
    assert client.post("/api/v1/connections/warehouse/test").json()["ok"] is False
    assert fake_postgres.passwords == [PASSWORD]  # what the re-authenticated change allowed, on the record


def test_a_new_endpoint_with_new_secrets_needs_no_reauthentication_and_sends_only_the_new_password(
    client, devi, fake_postgres
):
    body = {"port": fake_postgres.port, "password": "Brand-new-pw-1", "extra": {"sslmode": "disable"}}
    assert patch(client, body).status_code == 200
    client.post("/api/v1/connections/warehouse/test")
    assert fake_postgres.passwords == ["Brand-new-pw-1"]
    assert [outcome for outcome, _ in reveals()] == []


def test_a_new_password_alone_does_not_free_the_stored_extra_to_move(client, devi, fake_postgres):
    moved = patch(client, {"port": fake_postgres.port, "password": "Brand-new-pw-1"})
    assert moved.status_code == 403 and "stored extra" in moved.json()["detail"]


def test_changing_the_address_or_tls_keys_of_extra_counts_as_moving_the_endpoint(client, devi):
    for extra in ({**EXTRA, "sslmode": "allow"}, {**EXTRA, "host": "evil.example"}, {"endpoint_url": "http://x"}):
        moved = patch(client, {"extra": extra})
        assert moved.status_code == 403 and moved.json()["reauthenticate"] is True, extra
    # Keys that say nothing of where the connection goes change freely (the password stays where it was).
    assert patch(client, {"extra": {**EXTRA, "application_name": "etl"}}).status_code == 200
    assert patch(client, {"description": "the warehouse", "namespaces": ["finance"]}).status_code == 200


@pytest.mark.parametrize("field, value", [("login", "mallory"), ("schema", "other_db"), ("connType", "mysql")])
def test_the_login_database_and_type_are_part_of_the_endpoint(client, devi, field, value):
    assert patch(client, {field: value}).status_code == 403


def test_the_edit_page_asks_for_reauthentication_before_moving_a_stored_password(client, devi, fake_postgres):
    form = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": fake_postgres.port,
        "schema": "postgres",
        "login": Connection.objects.get().login,
        "description": "",
        "namespaces_text": "postgres://warehouse:5432",
    }
    page = client.get("/connections/warehouse/edit").content.decode()
    assert 'name="reauth_password"' in page and "(needed too for your role)" in page
    refused = client.post("/connections/warehouse/edit", form)
    assert refused.status_code == 403 and "re-authenticate first" in refused.content.decode()
    assert Connection.objects.get().port == 5432
    client.post("/connections/warehouse/test")
    assert fake_postgres.passwords == []
    assert reveals()[-1][0] == "denied"

    wrong = client.post("/connections/warehouse/edit", {**form, "reauth_password": "Devi-password-1"})
    assert wrong.status_code == 400 and "second-factor code is needed too" in wrong.content.decode()
    confirmed = {**form, "reauth_password": "Devi-password-1", "reauth_code": totp_code(devi)}
    assert client.post("/connections/warehouse/edit", confirmed).status_code == 302
    assert Connection.objects.get().port == fake_postgres.port
    assert reveals()[-1] == (
        "success",
        {"reason": "endpoint change", "fields": ["port"], "secrets": ["password", "extra"]},
    )


def test_importing_a_new_endpoint_for_an_existing_connection_replaces_its_secrets(
    client, tmp_path, devi, fake_postgres
):
    """The operator's command line: an import sets every field, secrets included, so the stored password is
    replaced by the file's (here: none), never sent to the file's host."""
    path = tmp_path / "connections.json"
    path.write_text(
        json.dumps({"warehouse": {"conn_type": "postgres", "host": "127.0.0.1", "port": fake_postgres.port}})
    )
    call_command("connections_import", str(path), stdout=StringIO())
    connection = Connection.objects.get()
    assert connection.port == fake_postgres.port and not connection.has_password
    client.post("/api/v1/connections/warehouse/test")
    assert fake_postgres.startups == 1 and PASSWORD not in fake_postgres.passwords


# --- Throttling re-authentication -----------------------------------------------------------------------------


def reauth_as_otto(client, password, address="10.0.0.1"):
    return client.post("/api/v1/reauth", {"password": password}, content_type="application/json", REMOTE_ADDR=address)


def test_guessing_the_reauthentication_password_is_locked_out_like_a_login(client, settings):
    login(client, make_user("otto", "operator"))
    answers = [reauth_as_otto(client, f"guess-{n}").status_code for n in range(30)]
    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [400] * (limit - 1) and set(answers[limit - 1 :]) == {429}
    right = reauth_as_otto(client, "Otto-password-1")
    assert right.status_code == 429 and "too many failed attempts" in right.json()["detail"]
    assert right["Retry-After"] == str(round(settings.AXES_COOLOFF_TIME * 3600))

    # The count is axes' rows in the database, which every process reads: the login form, another code path, is
    # locked for otto from there too; from otto's own desk, re-authentication still works.
    from axes.models import AccessAttempt

    assert AccessAttempt.objects.get(username="otto", ip_address="10.0.0.1").failures_since_start == limit
    login_form = Client().post(
        "/accounts/login/", {"username": "otto", "password": "Otto-password-1"}, REMOTE_ADDR="10.0.0.1"
    )
    assert login_form.status_code == 429
    assert reauth_as_otto(client, "Otto-password-1", address="10.9.9.9").status_code == 200

    records = AuditRecord.objects.filter(action="auth.reauthenticated", actor_label="otto")
    assert records.filter(outcome="failure").count() == limit
    assert records.filter(outcome="denied", detail__reason="locked out").count() == 30 - limit + 1
    for record in records:
        assert "guess" not in json.dumps(record.detail or {}) and "Otto-password" not in json.dumps(record.detail or {})


def test_a_reauthentication_lockout_ends_after_the_cool_off(client):
    from axes.models import AccessAttempt

    login(client, make_user("otto", "operator"))
    for n in range(5):
        reauth_as_otto(client, f"guess-{n}")
    assert reauth_as_otto(client, "Otto-password-1").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert reauth_as_otto(client, "Otto-password-1").status_code == 200
    assert not AccessAttempt.objects.exists()  # a good re-authentication clears the count, as a login does


def test_the_page_reauthentication_is_throttled_too_and_keeps_no_typed_secret(client):
    from axes.models import AccessAttempt, AccessFailureLog

    login(client, make_user("ada", "admin"))
    create(client)
    for n in range(5):
        client.post("/connections/warehouse/reveal", {"password": f"guess-{n}", "code": "123456"})
    locked = client.post("/connections/warehouse/reveal", {"password": "Ada-password-1", "code": "000000"})
    assert locked.status_code == 429 and "Too many failed attempts" in locked.content.decode()
    assert 'id="revealed-password"' not in locked.content.decode()
    stored = json.dumps(list(AccessAttempt.objects.values()), default=str) + json.dumps(
        list(AccessFailureLog.objects.values()), default=str
    )
    assert "guess-" not in stored and "123456" not in stored


# --- The second factor --------------------------------------------------------------------------------------


def post_reauth(client, **body):
    return client.post("/api/v1/reauth", body, content_type="application/json")


def test_a_role_that_must_use_a_second_factor_cannot_reauthenticate_with_the_password_alone(client, devi):
    alone = post_reauth(client, password="Devi-password-1")
    assert alone.status_code == 400 and alone.json()["detail"] == "a second-factor code is needed too"
    assert client.post("/api/v1/connections/warehouse/reveal").status_code == 403
    wrong = post_reauth(client, password="Devi-password-1", code="000000")
    assert wrong.status_code == 400 and client.post("/api/v1/connections/warehouse/reveal").status_code == 403
    code_alone = post_reauth(client, code=totp_code(devi))
    assert code_alone.status_code == 400 and code_alone.json()["detail"] == "your password is needed"
    assert post_reauth(client, password="Devi-password-1", code=totp_code(devi)).status_code == 200
    assert client.post("/api/v1/connections/warehouse/reveal").status_code == 200


def test_a_recovery_code_serves_as_the_second_factor_once(client, devi):
    from governance.mfa import new_recovery_codes

    code = new_recovery_codes(devi)[0]
    assert post_reauth(client, password="Devi-password-1", code=code).status_code == 200
    assert post_reauth(client, password="Devi-password-1", code=code).status_code == 400


def test_a_role_without_a_second_factor_reauthenticates_with_the_password(client):
    login(client, make_user("otto", "operator"))
    assert post_reauth(client, password="Otto-password-1").status_code == 200


def test_the_reveal_page_asks_for_the_second_factor_code_too(client, devi):
    page = client.get("/connections/warehouse/").content.decode()
    assert "Second-factor code (needed too for your role)" in page
    alone = client.post("/connections/warehouse/reveal", {"password": "Devi-password-1"}).content.decode()
    assert "A second-factor code is needed too." in alone and PASSWORD not in alone
    both = client.post("/connections/warehouse/reveal", {"password": "Devi-password-1", "code": totp_code(devi)})
    assert PASSWORD in both.content.decode()


# --- Caches ---------------------------------------------------------------------------------------------------


def test_revealed_secrets_are_never_stored_by_a_cache(client, devi):
    reauth(client)
    api = client.post("/api/v1/connections/warehouse/reveal")
    assert api.json()["password"] == PASSWORD and "no-store" in api["Cache-Control"]
    page = client.post("/connections/warehouse/reveal")
    assert PASSWORD in page.content.decode() and "no-store" in page["Cache-Control"]


# --- Namespaces a narrowed developer may aim a connection at ---------------------------------------------------


def test_a_narrowed_developer_cannot_make_a_connection_for_another_teams_namespace(client):
    from governance.models import Namespace

    Namespace.objects.get_or_create(
        name="vaultdb", defaults={"created_at": timezone.now(), "updated_at": timezone.now()}
    )
    login(client, make_user("dora", "developer", namespaces=("airflow",)))
    for namespaces in (["vaultdb"], ["airflow", "vaultdb"], [], ["no-such-namespace"]):
        body = {"id": "evil", "connType": "postgres", "host": "attacker.example", "namespaces": namespaces}
        response = client.post("/api/v1/connections", body, content_type="application/json")
        assert response.status_code == 403, (namespaces, response.content)
        assert "namespaces you are granted" in response.json()["message"]
    assert not Connection.objects.filter(slug="evil").exists()
    assert AuditRecord.objects.filter(action="access.denied", actor_label="dora").count() == 4
    page = client.post("/connections/new", {"slug": "evil", "conn_type": "postgres", "namespaces_text": "vaultdb"})
    assert page.status_code == 403 and not Connection.objects.filter(slug="evil").exists()
    made = client.post(
        "/api/v1/connections",
        {"id": "ours", "connType": "postgres", "namespaces": ["airflow"]},
        content_type="application/json",
    )
    assert made.status_code == 201
    widened = client.patch(
        "/api/v1/connections/ours", {"namespaces": ["airflow", "vaultdb"]}, content_type="application/json"
    )
    assert widened.status_code == 403
    assert Connection.objects.get(slug="ours").namespaces == ["airflow"]


def test_an_unnarrowed_developer_still_makes_a_connection_for_any_namespace(client):
    login(client, make_user("dan", "developer"))
    body = {"id": "anywhere", "connType": "postgres", "namespaces": ["vaultdb"]}
    assert client.post("/api/v1/connections", body, content_type="application/json").status_code == 201


# --- Codes that are right but cannot be taken now -------------------------------------------------------------


def code_at(device, steps_ahead: int = 0) -> str:
    """The code the authenticator shows now, or `steps_ahead` time steps later (the next code)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.drift += steps_ahead
    return f"{totp.token():0{device.digits}d}"


def login_through_the_form(client, user, code):
    """A browser's login: the form, then the second factor page with the authenticator's code."""
    assert client.post("/accounts/login/", {"username": "devi", "password": "Devi-password-1"}).status_code == 302
    assert client.post("/account/mfa/verify/", {"code": code}).status_code == 302


def test_the_code_just_used_to_log_in_is_refused_as_used_and_six_tries_of_it_lock_nobody_out(settings):
    from axes.models import AccessAttempt
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_user("devi", "developer")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    browser = Client()
    login_through_the_form(browser, user, code_at(device))

    again = [
        browser.post(
            "/api/v1/reauth", {"password": "Devi-password-1", "code": code_at(device)}, content_type="application/json"
        )
        for _ in range(settings.AXES_FAILURE_LIMIT + 1)
    ]
    assert {answer.status_code for answer in again} == {400}
    assert again[-1].json()["detail"] == (
        "this code was already used: wait for the next one (codes change every 30 seconds)"
    )
    assert not AccessAttempt.objects.exists()  # not a guess: counted nowhere
    assert browser.post("/api/v1/connections/warehouse/reveal").status_code in (403, 404)

    next_code = code_at(device, steps_ahead=1)
    answer = browser.post(
        "/api/v1/reauth", {"password": "Devi-password-1", "code": next_code}, content_type="application/json"
    )
    assert answer.status_code == 200


def test_a_used_code_with_a_wrong_password_is_a_failed_attempt(client, devi):
    from axes.models import AccessAttempt

    code = totp_code(devi)
    assert post_reauth(client, password="Devi-password-1", code=code).status_code == 200
    wrong = post_reauth(client, password="guess", code=code)
    assert wrong.status_code == 400 and wrong.json()["detail"] == "that password did not match"
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_the_right_code_typed_just_after_a_wrong_one_is_told_to_wait_and_not_counted(client, devi, settings):
    from axes.models import AccessAttempt
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.OTP_TOTP_THROTTLE_FACTOR = 30  # django-otp's delay after a wrong code (1 second by default)
    right = totp_code(devi)
    wrong = post_reauth(client, password="Devi-password-1", code="000000" if right != "000000" else "111111")
    assert wrong.status_code == 400 and wrong.json()["detail"] == "that second-factor code did not match"
    assert AccessAttempt.objects.get().failures_since_start == 1

    too_soon = post_reauth(client, password="Devi-password-1", code=right)
    assert too_soon.status_code == 400
    assert re.fullmatch(r"wait (29|30) seconds before the next code .*", too_soon.json()["detail"])
    assert AccessAttempt.objects.get().failures_since_start == 1
    assert client.post("/api/v1/connections/warehouse/reveal").status_code == 403

    TOTPDevice.objects.update(throttling_failure_timestamp=timezone.now() - timedelta(seconds=31))
    assert post_reauth(client, password="Devi-password-1", code=right).status_code == 200


def test_the_login_second_factor_page_tells_a_used_code_from_a_wrong_one():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_user("devi", "developer")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    first, second = Client(), Client()
    login_through_the_form(first, user, code_at(device))
    assert second.post("/accounts/login/", {"username": "devi", "password": "Devi-password-1"}).status_code == 302
    page = second.post("/account/mfa/verify/", {"code": code_at(device)}, follow=True).content.decode()
    assert "This code was already used: wait for the next one" in page and "did not match" not in page


# --- What a person is told --------------------------------------------------------------------------------------


def test_a_failed_reauthentication_says_which_factor_did_not_match(client, devi):
    assert post_reauth(client, password="guess", code="123456").json()["detail"] == "that password did not match"
    login(client, make_user("otto", "operator"))
    assert post_reauth(client, password="guess").json()["detail"] == "that password did not match"


def test_the_lockout_says_how_long_and_that_logins_are_paused_too_and_offers_no_form(client, settings):
    login(client, make_user("ada", "admin"))
    create(client)
    answers = [
        client.post("/connections/warehouse/reveal", {"password": f"guess-{n}", "code": "123456"})
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    first, last = answers[0].content.decode(), answers[-1].content.decode()
    assert "That password did not match." in first
    assert "re-authenticate first" not in first.lower()  # one message, not two
    assert answers[-1].status_code == 429
    assert "logins from this address are paused for up to 15 minutes" in last
    page = client.get("/connections/warehouse/").content.decode()
    assert 'name="password"' not in page and "Come back in up to 15 minutes" in page
    edit = client.get("/connections/warehouse/edit").content.decode()
    assert 'name="reauth_password"' not in edit and "Come back in up to 15 minutes" in edit


def test_the_login_lockout_page_says_for_how_long(settings):
    browser = Client()
    make_user("otto", "operator")
    for n in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/accounts/login/", {"username": "otto", "password": f"guess-{n}"})
    page = browser.post("/accounts/login/", {"username": "otto", "password": "Otto-password-1"})
    assert page.status_code == 429 and "for up to 15 minutes" in page.content.decode()


def test_a_narrowed_developer_cannot_change_a_connection_that_also_serves_a_namespace_not_yet_known(client):
    from governance import connections

    connections.connection_create(
        slug="shared", values={"conn_type": "postgres", "namespaces": ["airflow", "not-yet-created"]}, user=None
    )
    login(client, make_user("dora", "developer", namespaces=("airflow",)))
    assert client.get("/api/v1/connections/shared").status_code == 200  # seen: it serves airflow
    changed = client.patch("/api/v1/connections/shared", {"description": "mine"}, content_type="application/json")
    assert changed.status_code == 403
    assert client.delete("/api/v1/connections/shared").status_code == 403
    assert Connection.objects.get(slug="shared").description == ""
