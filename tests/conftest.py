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
