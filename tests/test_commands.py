"""The management commands a user runs: create_token, lineage_load, lineage_rebuild, quarantine."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance.models import ApiToken
from governance.tokens import authenticate_secret
from lineage.models import Dataset, QuarantinedEvent, RawEvent, Run

from .conftest import EVENTS_DIR, INVALID_DIR, example_event_names, load_event
from .graph_state import snapshot

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_token_prints_the_secret_alone_on_the_last_line():
    out, _ = run(
        "create_token", "--name", "airflow-prod", "--scope", "ingest", "--namespace", "finance", "--namespace", "sales"
    )
    secret = out.strip().splitlines()[-1]
    token = authenticate_secret(secret)
    assert token is not None
    assert (token.name, token.scope, token.namespaces) == ("airflow-prod", "ingest", ["finance", "sales"])
    assert secret not in ApiToken.objects.values_list("digest", flat=True)  # only a digest is stored


def test_create_token_refuses_an_unknown_scope():
    with pytest.raises(CommandError):
        run("create_token", "--name", "x", "--scope", "admin")


def test_create_token_shows_the_default_expiry_before_the_secret(settings):
    settings.TRIBUTARY_TOKEN_LIFETIME_DAYS = 90
    out, _ = run("create_token", "--name", "script", "--scope", "read")
    *described, secret = out.strip().splitlines()
    token = authenticate_secret(secret)
    expiry = token.expires_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert described[-1] == f"Expires: {expiry} (in 90 days)."
    assert timedelta(days=89, hours=23) < token.expires_at - timezone.now() <= timedelta(days=90)


def test_create_token_takes_an_explicit_expiry_or_none():
    out, _ = run("create_token", "--name", "a", "--scope", "ingest", "--expires-at", "2031-01-31T12:00:00")
    token = authenticate_secret(out.strip().splitlines()[-1])
    assert token.expires_at == datetime(2031, 1, 31, 12, tzinfo=UTC) and "Expires: 2031-01-31T12:00:00Z" in out
    out, _ = run("create_token", "--name", "b", "--scope", "ingest", "--expires-in-days", "3")
    assert "(in 3 days)" in out
    out, _ = run("create_token", "--name", "c", "--scope", "ingest", "--no-expiry")
    assert authenticate_secret(out.strip().splitlines()[-1]).expires_at is None
    assert "Expires: never (until revoked)." in out
    for bad in (["--expires-at", "2020-01-01T00:00:00Z"], ["--expires-at", "soon"], ["--expires-in-days", "0"]):
        with pytest.raises(CommandError):
            run("create_token", "--name", "d", "--scope", "read", *bad)
    with pytest.raises(CommandError):
        run("create_token", "--name", "e", "--scope", "read", "--no-expiry", "--expires-in-days", "3")
    assert ApiToken.objects.count() == 3


def test_create_token_makes_a_governance_read_token_only_for_an_owner_with_a_second_factor():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from .conftest import make_user

    audrey = make_user("audrey", "auditor")
    with pytest.raises(CommandError, match="owner"):
        run("create_token", "--name", "tool", "--scope", "governance-read")
    with pytest.raises(CommandError, match="second factor"):
        run("create_token", "--name", "tool", "--scope", "governance-read", "--owner", "audrey")
    TOTPDevice.objects.create(user=audrey, name="phone", confirmed=True)
    out, _ = run("create_token", "--name", "tool", "--scope", "governance-read", "--owner", "audrey")
    assert "Created governance-read token 'tool'" in out and "owned by audrey" in out
    assert authenticate_secret(out.strip().splitlines()[-1]).scope == "governance-read"


def test_lineage_load_reads_folders_json_lines_and_arrays(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    names = example_event_names()
    (folder / "a.json").write_text((EVENTS_DIR / names[0]).read_text())
    (folder / "b.jsonl").write_text("\n".join(json.dumps(load_event(n)) for n in names[1:10]) + "\n")
    (folder / "c.json").write_text(json.dumps([load_event(n) for n in names[10:20]]))
    (folder / "d.ndjson.gz").write_bytes(
        gzip.compress("\n".join(json.dumps(load_event(n)) for n in names[20:]).encode())
    )
    out, _ = run("lineage_load", str(folder), "--no-progress")
    assert out.startswith(f"{len(names)} accepted, 0 duplicates, 0 refused")
    assert RawEvent.objects.count() == len(names)
    assert Dataset.objects.exists() and Run.objects.exists()
    out, _ = run("lineage_load", str(folder), "--no-progress")
    assert out.startswith(f"0 accepted, {len(names)} duplicates")


def test_lineage_load_reports_refusals_with_reasons_and_keeps_the_rest(tmp_path):
    lines = [
        json.dumps(load_event("airflow_bq_dag_start.json")),
        "{broken",
        json.dumps(load_event("event_no_run_id.json", INVALID_DIR)),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines))
    out = StringIO()
    with pytest.raises(CommandError, match="2 event"):
        call_command("lineage_load", str(path), "--no-progress", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "1 accepted, 0 duplicates, 2 refused" in text
    assert f"refused {path}:2" in text and "/run/runId" in text
    assert RawEvent.objects.count() == 1
    assert QuarantinedEvent.objects.count() == 2


def test_lineage_load_names_a_missing_path():
    with pytest.raises(CommandError, match="no such file"):
        run("lineage_load", "does/not/exist.json")


def test_lineage_rebuild_ends_in_the_same_state():
    run("lineage_load", str(EVENTS_DIR), "--no-progress")
    before = snapshot()
    out, _ = run("lineage_rebuild")
    assert f"Rebuilt from {RawEvent.objects.count()} events" in out
    assert snapshot() == before


def test_quarantine_list_show_and_replay(tmp_path, django_capture_on_commit_callbacks):
    bad = load_event("event_no_run_id.json", INVALID_DIR)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(CommandError):
        run("lineage_load", str(path), "--no-progress")
    item = QuarantinedEvent.objects.get()
    out, _ = run("quarantine", "list")
    assert str(item.pk) in out and "/run/runId" in out
    out, _ = run("quarantine", "show", str(item.pk))
    assert '"runId" is a required property' in out

    # Still broken: replay leaves it pending with its errors.
    out, _ = run("quarantine", "replay", str(item.pk))
    assert "still refused" in out
    assert QuarantinedEvent.objects.count() == 1

    # Once the payload is fixed (here, by hand in the database, as an admin might), replay ingests it.
    bad["run"]["runId"] = "0199a000-0000-7000-8000-00000000abcd"
    QuarantinedEvent.objects.filter(pk=item.pk).update(body=json.dumps(bad))
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("quarantine", "replay", "--all")
    assert "1 of 1 replayed" in out
    item.refresh_from_db()
    assert item.status == "replayed" and item.raw_event.run_id == bad["run"]["runId"]
    assert Run.objects.filter(run_id=bad["run"]["runId"]).exists()


def test_quarantine_names_an_unknown_id():
    with pytest.raises(CommandError, match="no quarantined event #999"):
        run("quarantine", "show", "999")
