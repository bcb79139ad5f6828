import gzip
import json
from pathlib import Path

import orjson
import pytest
from django.db import connection

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EVENTS_DIR = FIXTURES / "openlineage" / "events"
INVALID_DIR = FIXTURES / "openlineage" / "events-invalid"


def load_event(name: str, folder: Path = EVENTS_DIR) -> dict:
    return json.loads((folder / name).read_text())


def example_event_names() -> list[str]:
    return sorted(p.name for p in EVENTS_DIR.glob("*.json"))


def invalid_event_names() -> list[str]:
    return sorted(p.name for p in INVALID_DIR.glob("*.json"))


def requires_postgres():
    return pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL: run with DATABASE_URL=postgresql://..."
    )


@pytest.fixture(scope="session", autouse=True)
def _plain_http():
    """The test client and the live server speak plain HTTP, as TRIBUTARY_PLAIN_HTTP=1 allows (settings are read
    before any conftest runs, so the switch is applied here; tests/test_transport.py checks production's)."""
    from django.test import override_settings

    with override_settings(SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at production strength costs ~0.3 s per user; the cast would dominate the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _encryption_key(settings):
    """A fresh connection key per test (production refuses to run without one)."""
    from governance.crypto import generate_key

    settings.TRIBUTARY_FERNET_KEYS = [generate_key()]


@pytest.fixture(scope="session")
def _report_signing_key_file(tmp_path_factory):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from compliance.signing import write_private_key

    path = tmp_path_factory.mktemp("keys") / "report_signing_key.pem"
    write_private_key(path, Ed25519PrivateKey.generate())
    return path


@pytest.fixture(autouse=True)
def _report_signing_key(settings, _report_signing_key_file):
    """Reports are signed with a test key (production refuses to sign without one)."""
    settings.TRIBUTARY_REPORT_SIGNING_KEY_FILE = str(_report_signing_key_file)


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Tests derive in-process unless a test starts a real worker itself."""
    from governance.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield


@pytest.fixture
def ingest_token(db):
    from governance.tokens import create_token

    return create_token(name="airflow", scope="ingest").secret


@pytest.fixture
def post_event(client, ingest_token, django_capture_on_commit_callbacks):
    """POST one event (dict, or raw bytes) to /api/v1/lineage with the ingest token.

    The test's transaction never commits, so the derivation that starts on commit is run explicitly.
    """

    def post(event, *, token=ingest_token, gzip_body=False, content_type="application/json", path="/api/v1/lineage"):
        body = event if isinstance(event, bytes) else orjson.dumps(event)
        headers = {}
        if gzip_body:
            body = gzip.compress(body)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", path, body, content_type=content_type, **headers)

    return post


# --- The cast: one user per role (tests narrow some of them to namespaces with make_user(namespaces=...)) ------

CAST = {
    "vera": "viewer",
    "stan": "steward",
    "otto": "operator",
    "devi": "developer",
    "audrey": "auditor",
    "ada": "admin",
}


def make_user(username: str, role: str | None, *, namespaces: tuple[str, ...] = ()):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from governance.models import Namespace

    user = get_user_model().objects.create_user(
        username, password=f"{username.capitalize()}-password-1", is_staff=role == "admin"
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    for name in namespaces:
        namespace, _ = Namespace.objects.get_or_create(
            name=name, defaults={"created_at": "2020-01-01T00:00Z", "updated_at": "2020-01-01T00:00Z"}
        )
        assign_perm("governance.access_namespace", user, namespace)
    return user


def login(client, user):
    """Log in as a browser would, second factor included when the role needs one."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from governance import sessions
    from governance.mfa import mfa_required

    client.force_login(user)
    session = client.session
    if mfa_required(user):
        device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    import time

    session[sessions.LOGIN_AT] = session[sessions.SEEN_AT] = int(time.time())
    session.save()
    return client


@pytest.fixture
def cast(db):
    return {name: make_user(name, role) for name, role in CAST.items()}


@pytest.fixture
def as_user(client, cast):
    """`as_user("vera")` logs the test client in as that member of the cast."""

    def switch(name: str):
        client.logout()
        return login(client, cast[name])

    return switch


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's admin client, with the second factor a superuser needs."""
    return login(client, admin_user)
