"""Encrypted connections: storage, rotation, reveal, test, import/export, and no secret anywhere it should not be."""

import json
import logging
import os
import time
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from governance import connections, crypto
from governance.models import AuditRecord, Connection

from .conftest import login, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Tr1b-s3cret-pw!"
EXTRA = {"sslmode": "disable", "api_key": "extra-s3cret-key"}


def create(client, slug="warehouse", **overrides):
    body = {
        "id": slug,
        "connType": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "schema": "postgres",
        "login": os.environ.get("PGUSER", "root"),
        "password": PASSWORD,
        "extra": EXTRA,
        "namespaces": ["postgres://warehouse:5432"],
        **overrides,
    }
    response = client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response


@pytest.fixture
def developer(client):
    return login(client, make_user("devi", "developer"))


def totp_code(user) -> str:
    """A current code from the user's authenticator (the device login() enrolled)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    # django-otp accepts each code once, and slows down guessing after a wrong one: a test re-authenticating again
    # within seconds stands for someone who waited.
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():0{device.digits}d}"


def reauth(client, username="devi"):
    """Re-authenticate as a person would: the password, and a current code when the role must use one."""
    from django.contrib.auth import get_user_model

    from governance.mfa import mfa_required

    user = get_user_model().objects.get(username=username)
    body = {"password": f"{username.capitalize()}-password-1"}
    if mfa_required(user):
        body["code"] = totp_code(user)
    response = client.post("/api/v1/reauth", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response


# --- Storage -------------------------------------------------------------------------------------------------


def test_secrets_are_stored_encrypted_and_come_back_revealed(developer):
    created = create(developer).json()
    assert created["hasPassword"] and created["hasExtra"] and "password" not in created and "extra" not in created
    row = Connection.objects.get(slug="warehouse")
    assert PASSWORD not in row.password_encrypted and "extra-s3cret-key" not in row.extra_encrypted
    assert row.key_id == crypto.current_key_id()
    reauth(developer)
    revealed = developer.post("/api/v1/connections/warehouse/reveal").json()
    assert revealed == {"password": PASSWORD, "extra": EXTRA}


def test_changing_a_secret_says_changed_and_keeps_the_other(developer):
    create(developer)
    developer.patch("/api/v1/connections/warehouse", {"password": "N3w-pass-word"}, content_type="application/json")
    reauth(developer)
    revealed = developer.post("/api/v1/connections/warehouse/reveal").json()
    assert revealed == {"password": "N3w-pass-word", "extra": EXTRA}


def test_rotation_through_three_key_generations(developer, settings):
    first = settings.TRIBUTARY_FERNET_KEYS[0]
    create(developer, "one")
    second = crypto.generate_key()
    settings.TRIBUTARY_FERNET_KEYS = [second, first]
    create(developer, "two")
    third = crypto.generate_key()
    settings.TRIBUTARY_FERNET_KEYS = [third, second, first]
    create(developer, "three")
    assert sorted(Connection.objects.values_list("key_id", flat=True)) == sorted(
        map(crypto.key_id, (first, second, third))
    )

    out = StringIO()
    call_command("rotate_fernet_keys", "--batch-size", "1", stdout=out, stderr=StringIO())
    assert "2 connection(s) re-encrypted" in out.getvalue()
    assert set(Connection.objects.values_list("key_id", flat=True)) == {crypto.key_id(third)}

    settings.TRIBUTARY_FERNET_KEYS = [third]  # the old keys can go
    reauth(developer)
    for slug in ("one", "two", "three"):
        assert developer.post(f"/api/v1/connections/{slug}/reveal").json()["password"] == PASSWORD


def test_rotation_resumes_after_a_crash(developer, settings):
    old = settings.TRIBUTARY_FERNET_KEYS[0]
    for slug in ("a", "b", "c"):
        create(developer, slug)
    new = crypto.generate_key()
    settings.TRIBUTARY_FERNET_KEYS = [new, old]

    def crash_after_first_batch(done):
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        connections.rotate_keys(batch_size=1, on_batch=crash_after_first_batch)
    assert Connection.objects.filter(key_id=crypto.key_id(new)).count() == 1  # the finished batch stayed done
    assert connections.rotate_keys(batch_size=1) == 2
    assert set(Connection.objects.values_list("key_id", flat=True)) == {crypto.key_id(new)}


def test_a_wrong_key_is_a_clear_error_naming_the_connection(developer, settings):
    create(developer)
    settings.TRIBUTARY_FERNET_KEYS = [crypto.generate_key()]
    reauth(developer)
    response = developer.post("/api/v1/connections/warehouse/reveal")
    assert response.status_code == 503
    assert "'warehouse'" in response.json()["detail"] and "rotate_fernet_keys" in response.json()["detail"]
    page = developer.post("/connections/warehouse/reveal")
    assert page.status_code == 200 and "cannot decrypt the secrets of connection" in page.content.decode()
    with pytest.raises(CommandError, match="warehouse"):
        call_command("rotate_fernet_keys", stdout=StringIO(), stderr=StringIO())


def test_a_key_file_readable_by_others_is_refused(tmp_path, settings):
    path = tmp_path / "keys"
    path.write_text(crypto.generate_key() + "\n")
    settings.TRIBUTARY_FERNET_KEYS = []
    settings.TRIBUTARY_FERNET_KEY_FILE = str(path)
    path.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match="chmod 600"):
        crypto.configured_keys()
    path.chmod(0o600)
    assert len(crypto.configured_keys()) == 1


def test_without_keys_production_refuses_and_the_embedded_default_makes_a_private_one(tmp_path, settings):
    settings.TRIBUTARY_FERNET_KEYS, settings.TRIBUTARY_FERNET_KEY_FILE = [], ""
    settings.TRIBUTARY_EMBEDDED, settings.DEBUG = False, False
    with pytest.raises(ImproperlyConfigured, match="TRIBUTARY_FERNET_KEYS"):
        crypto.configured_keys()
    settings.TRIBUTARY_EMBEDDED, settings.VAR_DIR = True, tmp_path
    assert len(crypto.configured_keys()) == 1
    assert (tmp_path / "fernet.keys").stat().st_mode & 0o777 == 0o600


def check(stderr=None):
    """`manage.py check`, as migrate and runserver run it first: raises SystemCheckError on an error."""
    from django.core.checks import Tags

    call_command("check", tags=[Tags.security], stdout=StringIO(), stderr=stderr or StringIO())


def test_startup_refuses_a_key_file_readable_by_others_or_holding_a_malformed_key(tmp_path, settings):
    from django.core.management.base import SystemCheckError

    path = tmp_path / "keys"
    path.write_text(crypto.generate_key() + "\n")
    settings.TRIBUTARY_FERNET_KEYS, settings.TRIBUTARY_FERNET_KEY_FILE = [], str(path)
    path.chmod(0o644)
    with pytest.raises(SystemCheckError, match=r"governance\.E001.*chmod 600"):
        check()
    path.chmod(0o600)
    check()
    path.write_text("not-a-fernet-key\n")
    with pytest.raises(SystemCheckError, match="malformed"):
        check()
    path.chmod(0o000)
    if not os.access(path, os.R_OK):  # root reads anything
        with pytest.raises(SystemCheckError, match="cannot read the Fernet key file"):
            check()
    settings.TRIBUTARY_FERNET_KEYS, settings.TRIBUTARY_FERNET_KEY_FILE = ["also-not-a-key"], ""
    with pytest.raises(SystemCheckError, match="malformed"):
        check()


def test_startup_refuses_production_settings_without_keys_and_warns_on_the_embedded_default(tmp_path, settings):
    from django.core.management.base import SystemCheckError

    settings.TRIBUTARY_FERNET_KEYS, settings.TRIBUTARY_FERNET_KEY_FILE = [], ""
    settings.TRIBUTARY_EMBEDDED, settings.DEBUG, settings.VAR_DIR = False, False, tmp_path
    with pytest.raises(SystemCheckError, match=r"governance\.E002.*no connection encryption key"):
        check()
    settings.TRIBUTARY_EMBEDDED = True
    warnings = StringIO()
    check(warnings)
    assert "governance.W001" in warnings.getvalue() and "development key" in warnings.getvalue()
    assert not (tmp_path / "fernet.keys").exists()  # a check changes nothing


def test_the_test_settings_pass_the_startup_checks():
    check()


def test_without_keys_in_production_the_api_and_pages_say_so_instead_of_failing(client, settings):
    login(client, make_user("devi", "developer"))
    settings.TRIBUTARY_FERNET_KEYS, settings.TRIBUTARY_FERNET_KEY_FILE = [], ""
    settings.TRIBUTARY_EMBEDDED, settings.DEBUG = False, False
    body = {"id": "warehouse", "connType": "postgres", "password": PASSWORD}
    response = client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("connection encryption keys are not configured")
    form = {"slug": "warehouse", "conn_type": "postgres", "password": PASSWORD, "namespaces_text": ""}
    page = client.post("/connections/new", form)
    assert page.status_code == 503 and "connection encryption keys are not configured" in page.content.decode()
    assert not Connection.objects.exists()


def test_a_missing_key_file_is_not_named_to_users(client, settings, tmp_path, caplog):
    login(client, make_user("devi", "developer"))
    missing = tmp_path / "secret-location" / "fernet.keys"
    settings.TRIBUTARY_FERNET_KEYS, settings.TRIBUTARY_FERNET_KEY_FILE = [], str(missing)
    settings.TRIBUTARY_EMBEDDED, settings.DEBUG = False, False
    body = {"id": "warehouse", "connType": "postgres", "password": PASSWORD}
    response = client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 503 and "secret-location" not in response.content.decode()
    form = {"slug": "warehouse", "conn_type": "postgres", "password": PASSWORD, "namespaces_text": ""}
    page = client.post("/connections/new", form)
    assert page.status_code == 503 and "secret-location" not in page.content.decode()
    assert "secret-location" in caplog.text  # the operator's log says which file


# --- Reveal -------------------------------------------------------------------------------------------------


def test_reveal_needs_a_recent_re_authentication(developer, settings):
    create(developer)
    refused = developer.post("/api/v1/connections/warehouse/reveal")
    assert refused.status_code == 403 and refused.json()["reauthenticate"] is True
    wrong = developer.post("/api/v1/reauth", {"password": "nope"}, content_type="application/json")
    assert wrong.status_code == 400
    reauth(developer)
    assert developer.post("/api/v1/connections/warehouse/reveal").status_code == 200
    session = developer.session
    session[connections.REAUTH_AT] = int(time.time()) - settings.TRIBUTARY_REAUTH_SECONDS - 1
    session.save()
    assert developer.post("/api/v1/connections/warehouse/reveal").status_code == 403


def test_reveal_with_the_password_and_a_second_factor_code(client):
    user = make_user("devi", "developer")
    login(client, user)
    create(client)
    body = {"password": "Devi-password-1", "code": totp_code(user)}
    assert client.post("/api/v1/reauth", body, content_type="application/json").status_code == 200
    assert client.post("/api/v1/connections/warehouse/reveal").status_code == 200


@pytest.mark.parametrize("role", ["auditor", "viewer", "steward"])
def test_roles_that_may_not_use_connections_cannot_reveal(client, role):
    login(client, make_user("devi", "developer"))
    create(client)
    login(client, make_user("someone", role))
    client.post("/api/v1/reauth", {"password": "Someone-password-1"}, content_type="application/json")
    assert client.post("/api/v1/connections/warehouse/reveal").status_code in (403, 404)
    assert client.post("/api/v1/connections/warehouse/test").status_code in (403, 404)


def test_an_auditor_sees_metadata_but_never_secrets(client):
    login(client, make_user("devi", "developer"))
    create(client)
    login(client, make_user("audrey", "auditor"))
    listing = client.get("/api/v1/connections")
    assert listing.status_code == 200 and listing.json()["connections"][0]["host"] == "127.0.0.1"
    assert PASSWORD not in listing.content.decode()


def test_an_operator_narrowed_to_finance_uses_only_finance_connections(client):
    login(client, make_user("devi", "developer"))
    create(client, "fin", namespaces=["finance"])
    create(client, "hr", namespaces=["hr"])
    from governance.models import Namespace

    for name in ("finance", "hr"):
        Namespace.objects.get_or_create(
            name=name, defaults={"created_at": "2020-01-01T00:00Z", "updated_at": "2020-01-01T00:00Z"}
        )
    login(client, make_user("otto", "operator", namespaces=("finance",)))
    assert [c["id"] for c in client.get("/api/v1/connections").json()["connections"]] == ["fin"]
    reauth(client, "otto")
    assert client.post("/api/v1/connections/fin/reveal").status_code == 200
    assert client.post("/api/v1/connections/hr/reveal").status_code == 404


def namespaces(*names):
    from governance.models import Namespace

    for name in names:
        Namespace.objects.get_or_create(
            name=name, defaults={"created_at": "2020-01-01T00:00Z", "updated_at": "2020-01-01T00:00Z"}
        )


def refusals(username):
    return list(
        AuditRecord.objects.filter(action="access.denied", actor_label=username)
        .order_by("sequence")
        .values_list("outcome", "detail")
    )


def test_a_narrowed_operator_testing_a_connection_beyond_their_namespaces_is_refused_and_recorded(client):
    login(client, make_user("devi", "developer"))
    create(client, "shared", namespaces=["finance", "hr"])  # visible to finance, but it also serves hr
    namespaces("finance", "hr")
    login(client, make_user("otto", "operator", namespaces=("finance",)))
    assert client.post("/api/v1/connections/shared/test").status_code == 403
    assert refusals("otto") == [
        (
            "denied",
            {
                "method": "POST",
                "path": "/api/v1/connections/shared/test",
                "reason": "your role or namespaces do not allow using this connection",
            },
        )
    ]
    page = client.post("/connections/shared/test")
    assert page.status_code == 403 and "do not allow using this connection" in page.content.decode()
    assert [detail["path"] for _, detail in refusals("otto")] == [
        "/api/v1/connections/shared/test",
        "/connections/shared/test",
    ]


def test_a_narrowed_developer_editing_or_deleting_beyond_their_namespaces_is_refused_and_recorded(client):
    login(client, make_user("ada", "admin"))
    create(client, "shared", namespaces=["finance", "hr"])
    namespaces("finance", "hr")
    login(client, make_user("devi", "developer", namespaces=("finance",)))
    assert client.get("/connections/shared/edit").status_code == 403
    assert client.post("/connections/shared/delete").status_code == 403
    assert client.delete("/api/v1/connections/shared").status_code == 403
    assert [detail["path"] for _, detail in refusals("devi")] == [
        "/connections/shared/edit",
        "/connections/shared/delete",
        "/api/v1/connections/shared",
    ]
    assert Connection.objects.filter(slug="shared").exists()


def test_revealing_a_connection_beyond_ones_namespaces_is_recorded_and_answers_as_if_it_did_not_exist(client):
    login(client, make_user("devi", "developer"))
    create(client, "hr", namespaces=["hr"])
    namespaces("finance", "hr")
    login(client, make_user("otto", "operator", namespaces=("finance",)))
    reauth(client, "otto")
    hidden, missing = client.post("/api/v1/connections/hr/reveal"), client.post("/api/v1/connections/nope/reveal")
    assert hidden.status_code == missing.status_code == 404
    strip = lambda response: {k: v for k, v in response.json().items() if k != "requestId"}  # noqa: E731
    assert strip(hidden)["detail"].replace("hr", "nope") == strip(missing)["detail"]
    assert client.post("/connections/hr/reveal").status_code == 404
    records = AuditRecord.objects.filter(action="connection.revealed").order_by("sequence")
    assert [(r.actor_label, r.object_name, r.outcome, r.detail["reason"]) for r in records] == [
        ("otto", "hr", "denied", "namespaces"),
        ("otto", "nope", "denied", "no such connection"),
        ("otto", "hr", "denied", "namespaces"),
    ]
    assert PASSWORD not in hidden.content.decode()


# --- Test a connection -----------------------------------------------------------------------------------------


def test_testing_a_postgres_connection_really_connects(developer):
    from django.db import connection as db

    if db.vendor != "postgresql":
        pytest.skip("needs the local PostgreSQL")
    create(developer)
    answer = developer.post("/api/v1/connections/warehouse/test").json()
    assert answer["ok"] is True and answer["message"].startswith("connected: PostgreSQL")


def test_a_failed_test_reports_the_error_without_the_password(developer):
    create(developer, host="127.0.0.1", port=1, schema="nope_db")
    answer = developer.post("/api/v1/connections/warehouse/test").json()
    assert answer["ok"] is False and answer["message"]
    assert PASSWORD not in answer["message"]


def test_scrubbing_removes_secrets_from_driver_messages():
    message = f'connection to "db" failed: password "{PASSWORD}" rejected; dsn=postgres://u:Tr1b-s3cret-pw%21@h'
    scrubbed = connections.scrub(message, {"password": PASSWORD, "extra": EXTRA})
    assert PASSWORD not in scrubbed and "Tr1b-s3cret-pw%21" not in scrubbed and "*****" in scrubbed


# --- No secret where it should not be --------------------------------------------------------------------------


def test_no_secret_in_responses_logs_pages_admin_or_dumpdata(client, caplog):
    caplog.set_level(logging.DEBUG)
    admin = make_user("ada", "admin")
    login(client, admin)
    texts = [create(client).content.decode()]
    texts.append(
        client.patch(
            "/api/v1/connections/warehouse",
            {"password": PASSWORD, "extra": EXTRA, "login": "other"},  # new secrets with the new login: no re-auth
            content_type="application/json",
        ).content.decode()
    )
    for url in (
        "/api/v1/connections",
        "/api/v1/connections/warehouse",
        "/connections/",
        "/connections/warehouse/",
        "/connections/warehouse/edit",
        "/admin/governance/connection/",
        f"/admin/governance/connection/{Connection.objects.get().pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        texts.append(response.content.decode())
    texts.append(client.post("/api/v1/connections/warehouse/test").content.decode())
    texts.append(client.post("/api/v1/connections/warehouse/reveal").content.decode())  # refused: no re-auth

    # Error pages: a test against an unreachable server (the driver's message, scrubbed), in the API and the page.
    moved = {"port": 1, "password": PASSWORD, "extra": EXTRA}
    assert client.patch("/api/v1/connections/warehouse", moved, content_type="application/json").status_code == 200
    failed = client.post("/api/v1/connections/warehouse/test")
    assert failed.json()["ok"] is False
    failed_page = client.post("/connections/warehouse/test")
    assert failed_page.status_code == 200 and 'class="error">Test:' in failed_page.content.decode()
    texts += [failed.content.decode(), failed_page.content.decode()]

    # A reveal after re-authentication: the answer holds the secrets (that is its point), nothing else may.
    reauth(client, "ada")
    revealed = client.post("/api/v1/connections/warehouse/reveal")
    assert revealed.json()["password"] == PASSWORD
    assert PASSWORD in client.post("/connections/warehouse/reveal").content.decode()

    for url in ("/audit/", "/api/v1/audit?limit=1000", "/api/v1/audit?format=jsonl", "/admin/governance/auditrecord/"):
        response = client.get(url)
        assert response.status_code == 200, url
        texts.append(b"".join(response.streaming_content if response.streaming else [response.content]).decode())
    records = list(AuditRecord.objects.values())
    actions = {row["action"] for row in records}
    assert {"connection.created", "connection.updated", "connection.tested", "connection.revealed"} <= actions
    assert {"success", "denied"} <= {row["outcome"] for row in records if row["action"] == "connection.revealed"}
    texts += [json.dumps(row, default=str) for row in records]  # every column of every record
    dump = StringIO()
    call_command("dumpdata", "governance.connection", stdout=dump)
    texts.append(dump.getvalue())
    exported = StringIO()
    call_command("connections_export", stdout=exported)
    texts.append(exported.getvalue())
    texts.append(caplog.text)
    texts.append(repr(Connection.objects.get()) + str(Connection.objects.get()))
    for text in texts:
        assert PASSWORD not in text and "extra-s3cret-key" not in text


def test_django_admin_shows_connections_read_only_and_sends_edits_to_the_audited_pages(client):
    login(client, make_user("ada", "admin"))
    create(client)
    pk = Connection.objects.get().pk
    page = client.get(f"/admin/governance/connection/{pk}/change/").content.decode()
    assert 'href="/connections/warehouse/"' in page and 'name="host"' not in page and 'name="_save"' not in page
    assert client.post(f"/admin/governance/connection/{pk}/change/", {"host": "evil.example"}).status_code == 403
    assert client.post(f"/admin/governance/connection/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/governance/connection/add/").status_code == 403
    assert Connection.objects.get().host == "127.0.0.1"


# --- Airflow's formats ------------------------------------------------------------------------------------------


def test_import_and_export_in_airflow_json_and_uri(tmp_path):
    admin = make_user("ada", "admin")
    exported_by_airflow = {
        "orders_db": {
            "conn_type": "postgres",
            "host": "orders-db",
            "login": "etl",
            "password": PASSWORD,
            "schema": "shop",
            "port": 5432,
            "extra": json.dumps({"sslmode": "require"}),
        },
        "landing": {
            "conn_type": "aws",
            "host": None,
            "login": "AKIA",
            "password": "aws-s3cret",
            "schema": None,
            "port": None,
            "extra": json.dumps({"region_name": "eu-west-1"}),
        },
    }
    path = tmp_path / "connections.json"
    path.write_text(json.dumps(exported_by_airflow))
    out = StringIO()
    call_command("connections_import", str(path), stdout=out)
    assert "2 created, 0 updated" in out.getvalue()

    without = StringIO()
    call_command("connections_export", stdout=without)
    plain = json.loads(without.getvalue())
    assert plain["orders_db"]["password"] is None and plain["orders_db"]["host"] == "orders-db"

    with pytest.raises(CommandError, match="admins"):
        call_command("connections_export", "--with-secrets", stdout=StringIO())
    full = StringIO()
    call_command("connections_export", "--with-secrets", "--as", admin.username, stdout=full)
    data = json.loads(full.getvalue())
    assert data["orders_db"]["password"] == PASSWORD
    assert json.loads(data["orders_db"]["extra"]) == {"sslmode": "require"}

    uris = StringIO()
    call_command("connections_export", "--format", "uri", "--with-secrets", "--as", admin.username, stdout=uris)
    line = next(line for line in uris.getvalue().splitlines() if line.startswith("orders_db="))
    assert line == "orders_db=postgres://etl:Tr1b-s3cret-pw%21@orders-db:5432/shop?sslmode=require"
    uri_file = tmp_path / "uris.txt"
    uri_file.write_text(uris.getvalue().replace("orders_db=", "orders_copy=", 1))
    call_command("connections_import", str(uri_file), stdout=StringIO())
    copy = connections.from_airflow_uri(line.split("=", 1)[1])
    assert copy["password"] == PASSWORD and copy["extra"] == {"sslmode": "require"}
    login_check = Connection.objects.get(slug="orders_copy")
    assert (login_check.host, login_check.port, login_check.schema, login_check.login) == (
        "orders-db",
        5432,
        "shop",
        "etl",
    )


def test_importing_a_malformed_file_changes_nothing(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("good=postgres://u:p@h/db\nthis is not a connection\n")
    with pytest.raises(CommandError, match=":2"):
        call_command("connections_import", str(path), stdout=StringIO())
    assert not Connection.objects.exists()


def warehouse_mart() -> None:
    """A dataset `mart` in namespace postgres://warehouse:5432, ingested and derived."""
    from lineage.derive.queue import derive_pending
    from lineage.ingest.services import ingest_event

    from .events import dataset, run_event

    ingest_event(
        event=run_event("COMPLETE", run_id="r", outputs=[dataset("postgres://warehouse:5432", "mart")]),
        source="cli",
        derive=False,
    )
    derive_pending()


def test_the_dataset_page_shows_the_connection_serving_its_namespace_to_those_who_may_see_it(client):
    warehouse_mart()
    login(client, make_user("devi", "developer"))
    create(client)
    page = client.get("/datasets/postgres://warehouse:5432/mart").content.decode()
    assert 'href="/connections/warehouse/"' in page
    login(client, make_user("vera", "viewer"))
    page = client.get("/datasets/postgres://warehouse:5432/mart").content.decode()
    assert "/connections/warehouse/" not in page and "Connections are shown to" in page


def test_the_connection_page_links_each_namespace_it_serves_to_its_datasets(client):
    warehouse_mart()
    login(client, make_user("devi", "developer"))
    create(client, namespaces=["postgres://warehouse:5432", "finance"])
    page = client.get("/connections/warehouse/").content.decode()
    link = "/search/?q=postgres%3A//warehouse%3A5432"
    assert f'href="{link}"' in page and 'href="/search/?q=finance"' in page
    assert 'href="/datasets/postgres://warehouse:5432/mart"' in client.get(link).content.decode()


# --- The forms, as a person reads them --------------------------------------------------------------------------


def test_the_new_connection_form_says_what_to_type_and_has_nothing_to_keep(client, developer):
    page = client.get("/connections/new").content.decode()
    assert "null</textarea>" not in page and "keep the current" not in page
    for label in ("Connection id", "Type", "Database / schema", "Database password", "Extra (JSON)"):
        assert f">{label}:</label>" in page, label
    assert 'autocomplete="new-password"' in page and '{"sslmode": "require"}' in page
    assert page.index('name="namespaces_text"') < page.index('name="password"') < page.index('name="extra"')


def test_the_edit_form_tells_the_connections_password_from_your_own(client, developer):
    create(client)
    page = client.get("/connections/warehouse/edit").content.decode()
    assert "Leave empty to keep the current password." in page
    assert "Your Tributary password (to confirm it is you)" in page
    assert 'name="reauth_password" type="password" autocomplete="current-password"' in page
    assert 'name="reauth_code" autocomplete="one-time-code" inputmode="numeric"' in page


def test_a_role_without_a_second_factor_is_not_asked_for_a_code(client, settings):
    login(client, make_user("ada", "admin"))
    create(client)
    login(client, make_user("otto", "operator"))
    page = client.get("/connections/warehouse/").content.decode()
    assert "Your Tributary password" in page and "Second-factor code" not in page
    settings.TRIBUTARY_MFA_REQUIRED_ROLES = ["auditor", "admin"]  # developers too, where a site chooses so
    login(client, make_user("devi", "developer"))
    edit = client.get("/connections/warehouse/edit").content.decode()
    assert "Your Tributary password" in edit and "Second-factor code" not in edit


def test_revealed_extra_is_shown_as_json_and_delete_asks_to_confirm(client, developer):
    create(client)
    reauth(client)
    page = client.post("/connections/warehouse/reveal").content.decode()
    shown = page.split('id="revealed-extra">', 1)[1].split("</pre>", 1)[0]
    assert json.loads(shown.replace("&quot;", '"')) == EXTRA
    confirm = page.split('<details class="confirm">', 1)[1].split("</details>", 1)[0]
    assert "<summary>Delete…</summary>" in confirm and "cannot be undone" in confirm
    assert 'action="/connections/warehouse/delete"' in confirm
