"""Compliance: each rule's check on a fixture that violates it and one that does not; the report's figures,
computed here independently; the signed PDF; retention with legal holds."""

import io
import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from pypdf import PdfReader

from compliance import checks, services
from compliance.models import CheckResult, CheckRun, ComplianceReport, ComplianceRule, LegalHold
from governance import audit, connections, crypto
from governance.models import AuditRecord, Connection
from lineage.annotations import update_metadata
from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event
from lineage.models import RawEvent, Run

from .audit_cast import tamper
from .conftest import login, make_user
from .events import dataset, run_event

pytestmark = pytest.mark.django_db


def violations(rule_id: str, **parameters) -> list[dict]:
    rule = ComplianceRule.objects.get(pk=rule_id)
    rule.parameters = {**rule.parameters, **parameters}
    return checks.CHECKS[rule.check_name](rule)


def emit(job, inputs, outputs, *, when=None, run_id=None, namespace="airflow"):
    event = run_event("COMPLETE", run_id=run_id or f"run-{job}", job=(namespace, job), inputs=inputs, outputs=outputs)
    if when is not None:
        event["eventTime"] = when.isoformat()
    assert ingest_event(event=event, source="cli", derive=False).stored
    derive_pending()


# --- Each rule ------------------------------------------------------------------------------------------------


def test_retention_of_metadata_flags_old_raw_events_unless_held():
    emit("old", [], [dataset("pg://db", "t")], when=timezone.now() - timedelta(days=3000))
    assert violations("retention-metadata") and "1 raw event" in violations("retention-metadata")[0]["name"]
    LegalHold.objects.create(kind="namespace", namespace="airflow", reason="litigation")
    assert violations("retention-metadata") == []


def test_retention_of_the_audit_trail_flags_records_older_than_the_rule():
    audit.record("metadata.updated", actor="cli:test", target=("dataset", 1, "t"))
    assert violations("retention-audit") == []
    assert violations("retention-audit", days=-1)  # everything is older than "tomorrow"


def test_connection_secrets_must_be_on_the_newest_key(settings):
    connections.connection_create(slug="wh", values={"password": "Pw-1234567"}, user=None)
    assert violations("encryption-connections") == []
    settings.TRIBUTARY_FERNET_KEYS = [crypto.generate_key(), *settings.TRIBUTARY_FERNET_KEYS]
    assert [v["id"] for v in violations("encryption-connections")] == ["wh"]
    connections.rotate_keys()
    assert violations("encryption-connections") == []


def test_privileged_roles_without_a_second_factor_are_flagged():
    devi, vera = make_user("devi", "developer"), make_user("vera", "viewer")
    assert [v["name"] for v in violations("mfa-required")] == ["devi"]
    TOTPDevice.objects.create(user=devi, name="phone", confirmed=True)
    assert violations("mfa-required") == []
    assert vera


def test_a_session_longer_than_the_rule_is_flagged(settings):
    assert violations("session-timeout") == []
    settings.TRIBUTARY_SESSION_TIMEOUT_MINUTES = 600
    assert violations("session-timeout")[0]["detail"] == "sessions last 600 minutes; the rule allows 480"


def test_weak_password_rules_are_flagged(settings):
    assert violations("password-complexity") == []
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}}
    ]
    assert len(violations("password-complexity")) == 2


def test_logging_switched_off_is_flagged(settings):
    assert violations("audit-all-access-logged") == []
    settings.TRIBUTARY_AUDIT_ENABLED = False
    assert violations("audit-all-access-logged")


def test_an_edited_audit_record_breaks_the_chain_rule():
    for n in range(3):
        audit.record("metadata.updated", actor="cli:test", target=("dataset", n, f"t{n}"))
    assert violations("audit-chain-intact") == []
    middle = AuditRecord.objects.order_by("sequence")[1]
    tamper("UPDATE governance_auditrecord SET actor_label = 'mallory' WHERE id = %s", [middle.pk])
    assert [v["id"] for v in violations("audit-chain-intact")] == [str(middle.sequence)]


def test_a_change_behind_the_applications_back_is_flagged():
    connection = connections.connection_create(slug="wh", values={"host": "a"}, user=None)
    connections.connection_update(connection=connection, values={"host": "b"}, user=None)
    assert violations("change-management") == []
    Connection.objects.filter(pk=connection.pk).update(host="c", updated_at=timezone.now() + timedelta(minutes=5))
    assert [v["id"] for v in violations("change-management")] == ["wh"]


def test_a_dataset_read_for_a_month_with_no_producer_is_a_lineage_gap():
    emit(
        "report",
        [dataset("pg://db", "orphan")],
        [dataset("pg://db", "report")],
        when=timezone.now() - timedelta(days=40),
    )
    assert [v["name"] for v in violations("lineage-coverage")] == ["orphan"]
    emit("load", [], [dataset("pg://db", "orphan")])
    assert violations("lineage-coverage") == []


def _pii_estate():
    crm = dataset("pg://crm", "customers", fields=["email"])
    emit(
        "copy",
        [crm],
        [
            dataset(
                "pg://wh", "contacts", fields=["email"], column_lineage={"email": [("pg://crm", "customers", "email")]}
            )
        ],
    )
    update_metadata(
        kind="dataset",
        namespace="pg://crm",
        name="customers",
        changes={"fields": {"email": {"classifications": ["PII"]}}, "owners": [{"name": "team:crm"}]},
        user=None,
    )


def test_datasets_holding_pii_need_an_owner():
    _pii_estate()
    assert [v["name"] for v in violations("pii-owner")] == ["contacts"]  # inherited, no owner
    update_metadata(
        kind="dataset", namespace="pg://wh", name="contacts", changes={"owners": [{"name": "team:bi"}]}, user=None
    )
    assert violations("pii-owner") == []


def test_pii_flowing_into_a_namespace_not_cleared_for_it_is_flagged():
    _pii_estate()
    found = violations("pii-exposure")
    assert [v["id"] for v in found] == ["dataset:pg://wh:contacts"]
    assert "pg://crm:customers" in found[0]["detail"]
    assert violations("pii-exposure", allowed_namespaces=["pg://wh"]) == []


def test_pii_readable_by_someone_without_a_right_to_its_source_namespace_is_flagged():
    _pii_estate()
    make_user("wendy", "viewer", namespaces=("pg://wh",))  # may read the copy, not the CRM
    make_user("carl", "viewer", namespaces=("pg://wh", "pg://crm"))  # may read both: not exposed
    found = violations("pii-exposure", allowed_namespaces=["pg://wh"])
    assert [v["id"] for v in found] == ["dataset:pg://wh:contacts"]
    assert "user wendy" in found[0]["detail"] and "carl" not in found[0]["detail"]
    assert "pg://crm:customers" in found[0]["detail"]


def test_pii_readable_through_a_read_token_limited_to_the_copy_is_flagged():
    from governance.tokens import create_token

    _pii_estate()
    assert violations("pii-exposure", allowed_namespaces=["pg://wh"]) == []
    issued = create_token(name="bi", scope="read", namespaces=["pg://wh"])
    found = violations("pii-exposure", allowed_namespaces=["pg://wh"])
    assert [v["id"] for v in found] == ["dataset:pg://wh:contacts"]
    assert f"read token {issued.token.prefix}" in found[0]["detail"]
    create_token(name="ingest", scope="ingest", namespaces=["pg://wh"])  # reads nothing
    issued.token.revoked_at = timezone.now()
    issued.token.save()
    assert violations("pii-exposure", allowed_namespaces=["pg://wh"]) == []


def test_pii_readable_by_a_role_that_must_not_see_it_is_flagged():
    _pii_estate()
    make_user("stella", "steward")
    assert violations("pii-exposure", allowed_namespaces=["pg://wh"], forbidden_roles=["viewer"]) == []
    make_user("vera", "viewer")  # a global viewer reads the source and the copy
    found = violations("pii-exposure", allowed_namespaces=["pg://wh"], forbidden_roles=["viewer"])
    assert [v["id"] for v in found] == ["dataset:pg://crm:customers", "dataset:pg://wh:contacts"]
    assert all("role(s) viewer (user vera)" in v["detail"] for v in found)


def test_a_broken_check_is_an_error_result_and_the_others_still_run(monkeypatch):
    monkeypatch.setitem(checks.CHECKS, "session_timeout", lambda rule: 1 / 0)
    run = services.run_checks(trigger="manual")
    results = {r.rule_id: r.status for r in run.results.all()}
    assert results["session-timeout"] == "error" and results["password-complexity"] == "pass"
    assert AuditRecord.objects.filter(action="compliance.checked").exists()


# --- The API and the report --------------------------------------------------------------------------------


@pytest.fixture
def auditor(client):
    return login(client, make_user("audrey", "auditor"))


def test_checks_answer_live_with_the_violating_objects(auditor, settings):
    settings.TRIBUTARY_SESSION_TIMEOUT_MINUTES = 600
    body = auditor.get("/api/v1/compliance/checks").json()
    by_rule = {c["rule"]: c for c in body["checks"]}
    assert by_rule["session-timeout"]["status"] == "fail"
    assert by_rule["session-timeout"]["violations"][0]["name"] == "session timeout"
    assert CheckRun.objects.count() == 1


def make_history(start):
    """A period with known numbers: 3 check runs of 2 rules (one failing each time), and audit records."""
    rules = list(ComplianceRule.objects.filter(pk__in=["session-timeout", "password-complexity"]))
    for day in range(3):
        run = CheckRun.objects.create(trigger="schedule", started_at=start + timedelta(days=day))
        for rule in rules:
            CheckResult.objects.create(
                run=run,
                rule_id=rule.id,
                category=rule.category,
                severity=rule.severity,
                status="fail" if rule.id == "session-timeout" else "pass",
                violation_count=int(rule.id == "session-timeout"),
                checked_at=start + timedelta(days=day, hours=1),
            )


def test_the_report_figures_match_an_independent_count(auditor):
    end = timezone.now() + timedelta(minutes=1)
    start = end - timedelta(days=10)
    make_history(start)
    for _ in range(4):
        audit.record("access.denied", actor="cli:test", outcome="denied")
    body = auditor.get("/api/v1/compliance/report", {"start": start.isoformat(), "end": end.isoformat()}).json()
    # The report counts what was recorded before it was made (its own records come after).
    records = AuditRecord.objects.filter(time__gte=start, time__lt=end).exclude(action__startswith="compliance.report_")
    audited = records.count()  # includes the auditor's login and this report's predecessors
    bad_audit = records.filter(outcome__in=["denied", "failure"]).count()
    # The 6 results made above, plus the checks the report ran first (no broker, none recent).
    results = CheckResult.objects.filter(checked_at__gte=start, checked_at__lt=end)
    assert results.count() == 6 + ComplianceRule.objects.filter(enabled=True).count()
    total = results.count() + audited
    bad = results.exclude(status="pass").count() + bad_audit
    summary = body["summary"]
    assert (summary["totalEvents"], summary["violations"], summary["compliantEvents"]) == (total, bad, total - bad)
    assert summary["complianceRate"] == round(100 * (total - bad) / total, 2)
    assert body["violationCategories"]["access_control"] >= 4 + 3  # the 4 refusals and the 3 failed session checks
    latest = CheckResult.objects.filter(rule_id="session-timeout").order_by("-checked_at").first()
    assert {r["rule"]: r["status"] for r in body["ruleStatus"]}["session-timeout"] == latest.status
    assert len(body["trend"]) >= 3 and all(0 <= t["complianceRate"] <= 100 for t in body["trend"])
    assert body["auditChain"]["ok"] is True
    assert {"period", "summary", "violationCategories", "recentViolations", "requirements"} <= set(body)
    assert len(body["requirements"]) == ComplianceRule.objects.count()
    assert AuditRecord.objects.filter(action="compliance.report_downloaded").count() == 1


def test_generating_a_report_and_downloading_it_and_its_signature_are_each_recorded(auditor):
    response = auditor.get("/api/v1/compliance/report", {"format": "csv"})
    report = ComplianceReport.objects.get(pk=response["X-Report-Id"])
    generated = AuditRecord.objects.get(action="compliance.report_generated")
    assert (generated.actor_label, generated.object_id) == ("audrey", str(report.pk))
    assert generated.detail["sha256"] == report.sha256 and generated.detail["scope"] == "all namespaces"
    downloads = AuditRecord.objects.filter(action="compliance.report_downloaded").order_by("sequence")
    assert [d.detail["file"] for d in downloads] == ["report"]
    auditor.get(f"/api/v1/compliance/reports/{report.pk}/signature")
    auditor.get(f"/api/v1/compliance/reports/{report.pk}/signature")
    downloads = downloads.all()  # again, after the signature downloads
    assert [d.detail["file"] for d in downloads] == ["report", "signature", "signature"]
    assert {(d.actor_label, d.object_id, d.detail["sha256"]) for d in downloads} == {
        ("audrey", str(report.pk), report.sha256)
    }
    assert AuditRecord.objects.filter(action="compliance.report_generated").count() == 1


def test_the_pdf_opens_has_the_figures_and_page_numbers_and_verifies(auditor, tmp_path):
    end = timezone.now() + timedelta(minutes=1)
    start = end - timedelta(days=10)
    make_history(start)
    response = auditor.get(
        "/api/v1/compliance/report", {"start": start.isoformat(), "end": end.isoformat(), "format": "pdf"}
    )
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Compliance report" in text and "Compliance rate" in text
    assert f"Page 1 of {len(reader.pages)}" in text and "generated" in text and "audrey" in text
    # The figures, counted here as in test_the_report_figures_match_an_independent_count, in the summary table
    # (Total events, Compliant, Violations, Compliance rate, Check evaluations, Audited events).
    records = AuditRecord.objects.filter(time__gte=start, time__lt=end).exclude(action__startswith="compliance.report_")
    results = CheckResult.objects.filter(checked_at__gte=start, checked_at__lt=end)
    total = results.count() + records.count()
    bad = results.exclude(status="pass").count() + records.filter(outcome__in=["denied", "failure"]).count()
    rate = f"{100 * (total - bad) / total:.2f} %"
    row = f"{total} {total - bad} {bad} {rate} {results.count()} {records.count()}"
    assert bad > 0 and row in " ".join(text.split()), row

    report = tmp_path / "report.pdf"
    report.write_bytes(response.content)
    signature = auditor.get(f"/api/v1/compliance/reports/{response['X-Report-Id']}/signature")
    (tmp_path / "report.pdf.sig").write_bytes(signature.content)
    public = StringIO()
    call_command("report_signing_key", stdout=public, stderr=StringIO())
    (tmp_path / "public.pem").write_text(public.getvalue())
    out = StringIO()
    call_command("verify_report", str(report), "--public-key", str(tmp_path / "public.pem"), stdout=out)
    assert out.getvalue().startswith("VERIFIED")

    tampered = bytearray(response.content)
    tampered[len(tampered) // 2] ^= 0x01
    report.write_bytes(bytes(tampered))
    with pytest.raises(CommandError, match="NOT VERIFIED"):
        call_command("verify_report", str(report), stdout=StringIO())


def test_csv_and_json_reports_are_signed_too(auditor):
    for fmt in ("csv", "json"):
        response = auditor.get("/api/v1/compliance/report", {"format": fmt})
        signature = json.loads(auditor.get(f"/api/v1/compliance/reports/{response['X-Report-Id']}/signature").content)
        import hashlib

        assert signature["sha256"] == hashlib.sha256(response.content).hexdigest() == response["X-Report-SHA256"]


def test_a_bad_period_is_a_400_naming_the_parameter(auditor):
    answer = auditor.get("/api/v1/compliance/report", {"start": "2026-02-01", "end": "2026-01-01"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["parameter"] == "start"
    assert auditor.get("/api/v1/compliance/report", {"format": "docx"}).status_code == 400


def test_admins_edit_rules_and_every_edit_is_audited(client):
    login(client, make_user("ada", "admin"))
    answer = client.patch(
        "/api/v1/compliance/rules/session-timeout", {"parameters": {"minutes": 240}}, content_type="application/json"
    )
    assert answer.status_code == 200 and answer.json()["parameters"] == {"minutes": 240}
    recorded = AuditRecord.objects.get(action="compliance.rule_updated")
    assert recorded.changes == {"parameters": {"before": {"minutes": 480}, "after": {"minutes": 240}}}


def test_the_compliance_page_offers_the_report(auditor):
    page = auditor.get("/compliance/").content.decode()
    assert 'action="/api/v1/compliance/report"' in page and "Requirements in force" in page


# --- Retention ------------------------------------------------------------------------------------------------


def test_retention_removes_what_is_old_keeps_what_is_held_and_leaves_a_record():
    old = timezone.now() - timedelta(days=3000)
    emit("old_job", [], [dataset("pg://db", "a")], when=old, run_id="old-1")
    emit("held_job", [], [dataset("pg://db", "b")], when=old, run_id="old-2", namespace="legal")
    emit("new_job", [], [dataset("pg://db", "c")], run_id="new-1")
    LegalHold.objects.create(kind="namespace", namespace="legal", reason="litigation")
    out = StringIO()
    call_command("enforce_retention", "--dry-run", stdout=out)
    assert "Would remove 1 raw event(s) and 1 run(s)" in out.getvalue() and "1 old raw event(s) kept" in out.getvalue()
    assert RawEvent.objects.count() == 3 and not AuditRecord.objects.filter(action="compliance.retention").exists()
    call_command("enforce_retention", stdout=StringIO())
    assert sorted(RawEvent.objects.values_list("run_id", flat=True)) == ["new-1", "old-2"]
    assert sorted(Run.objects.values_list("run_id", flat=True)) == ["new-1", "old-2"]
    assert AuditRecord.objects.get(action="compliance.retention").detail["raw_events"] == 1


def test_retention_of_the_audit_trail_keeps_the_chain_verifiable():
    for n in range(5):
        audit.record("metadata.updated", actor="cli:test", target=("dataset", n, f"t{n}"))
    rule = ComplianceRule.objects.get(pk="retention-audit")
    rule.parameters = {"days": -1}  # everything so far is past retention
    rule.save()
    before = AuditRecord.objects.count()
    outcome = services.enforce_retention(dry_run=False)
    assert outcome.audit_records == before
    out = StringIO()
    call_command("audit_verify", stdout=out, stderr=StringIO())
    assert "verified" in out.getvalue()


def test_without_a_broker_looking_at_compliance_runs_overdue_checks(auditor, settings):
    assert not CheckRun.objects.exists()
    auditor.get("/compliance/")
    assert CheckRun.objects.filter(trigger="schedule").count() == 1
    auditor.get("/compliance/")  # not overdue yet
    assert CheckRun.objects.count() == 1
    CheckRun.objects.update(started_at=timezone.now() - timedelta(hours=2))
    auditor.get("/compliance/")
    assert CheckRun.objects.count() == 2


def test_the_report_shows_a_broken_audit_chain(auditor):
    for n in range(3):
        audit.record("metadata.updated", actor="cli:test", target=("dataset", n, f"t{n}"))
    victim = AuditRecord.objects.filter(action="metadata.updated").order_by("sequence")[1]
    tamper("UPDATE governance_auditrecord SET object_name = 'nothing to see' WHERE id = %s", [victim.pk])
    chain = auditor.get("/api/v1/compliance/report").json()["auditChain"]
    assert chain["ok"] is False and chain["brokenAt"] == victim.sequence


# --- The admin goes through the audited services ----------------------------------------------------------------


def test_the_admin_cannot_add_change_or_delete_check_results_or_reports(admin_client):
    make_history(timezone.now() - timedelta(days=2))
    admin_client.get("/api/v1/compliance/report")
    result, report = CheckResult.objects.filter(status="fail").first(), ComplianceReport.objects.get()
    for path, item in (("checkresult", result), ("compliancereport", report)):
        assert admin_client.get(f"/admin/compliance/{path}/{item.pk}/change/").status_code == 200  # view only
        assert admin_client.get(f"/admin/compliance/{path}/add/").status_code == 403
        assert admin_client.post(f"/admin/compliance/{path}/{item.pk}/delete/", {"post": "yes"}).status_code == 403
        admin_client.post(
            f"/admin/compliance/{path}/", {"action": "delete_selected", "_selected_action": [item.pk], "post": "yes"}
        )
        assert type(item).objects.filter(pk=item.pk).exists()


def test_the_admin_cannot_add_or_delete_rules_and_its_edits_are_audited(admin_client):
    assert admin_client.get("/admin/compliance/compliancerule/add/").status_code == 403
    delete = admin_client.post("/admin/compliance/compliancerule/session-timeout/delete/", {"post": "yes"})
    assert delete.status_code == 403 and ComplianceRule.objects.filter(pk="session-timeout").exists()
    answer = admin_client.post(
        "/admin/compliance/compliancerule/session-timeout/change/",
        {
            "title": "Sessions end after 4 hours",
            "description": "",
            "severity": "high",
            "parameters": '{"minutes": 240}',
            "enabled": "on",
        },
    )
    assert answer.status_code == 302
    rule = ComplianceRule.objects.get(pk="session-timeout")
    assert rule.parameters == {"minutes": 240} and rule.updated_by.username == "admin"
    recorded = AuditRecord.objects.get(action="compliance.rule_updated")
    assert recorded.actor_label == "admin" and recorded.object_id == "session-timeout"
    assert recorded.changes["parameters"] == {"before": {"minutes": 480}, "after": {"minutes": 240}}


def test_holds_placed_and_released_in_the_admin_are_audited_and_never_deleted(admin_client):
    answer = admin_client.post(
        "/admin/compliance/legalhold/add/", {"kind": "namespace", "namespace": "legal", "name": "", "reason": "case 7"}
    )
    assert answer.status_code == 302
    hold = LegalHold.objects.get()
    assert hold.placed_by.username == "admin" and hold.active
    placed = AuditRecord.objects.get(action="compliance.hold_placed")
    assert (placed.object_id, placed.detail) == (str(hold.pk), {"reason": "case 7"})

    assert admin_client.post(f"/admin/compliance/legalhold/{hold.pk}/delete/", {"post": "yes"}).status_code == 403
    changed = admin_client.post(
        f"/admin/compliance/legalhold/{hold.pk}/change/", {"kind": "namespace", "namespace": "x", "reason": "x"}
    )
    assert changed.status_code == 403 and LegalHold.objects.get().namespace == "legal"

    admin_client.post(
        "/admin/compliance/legalhold/", {"action": "release_holds", "_selected_action": [hold.pk]}, follow=True
    )
    hold.refresh_from_db()
    assert not hold.active and hold.released_by.username == "admin"
    assert AuditRecord.objects.get(action="compliance.hold_released").object_id == str(hold.pk)


# --- Namespace isolation --------------------------------------------------------------------------------------


def _two_namespaces():
    """PII in pg://crm copied to pg://wh; a lineage gap and a hold in pg://secret; a connection serving each of
    pg://crm and pg://wh, both revealed; checks run. Returns the period covering all of it."""
    _pii_estate()
    emit(
        "sum",
        [dataset("pg://secret", "ledger")],
        [dataset("pg://secret", "summary")],
        when=timezone.now() - timedelta(days=40),
    )
    services.place_hold(kind="dataset", namespace="pg://secret", name="ledger", reason="case 9", user=None)
    for slug, namespace in (("vault", "pg://crm"), ("whconn", "pg://wh")):
        connection = connections.connection_create(slug=slug, values={"namespaces": [namespace]}, user=None)
        audit.record("connection.revealed", actor="cli:test", target=connection)
    services.run_checks(trigger="manual")
    end = timezone.now()
    return {"start": (end - timedelta(days=10)).isoformat(), "end": end.isoformat()}


HIDDEN_NAMES = ("ledger", "customers", "pg://crm", "pg://secret")


def test_a_narrowed_auditor_gets_exact_figures_but_names_only_from_their_namespaces(client):
    period = _two_namespaces()
    rule = ComplianceRule.objects.get(pk="pii-exposure")
    rule.parameters = {**rule.parameters, "allowed_namespaces": ["pg://secret", "pg://wh"]}
    rule.save()
    nadia = login(client, make_user("nadia", "auditor", namespaces=("pg://wh",)))
    whole = services.report_data(
        start=datetime.fromisoformat(period["start"]), end=datetime.fromisoformat(period["end"])
    )
    response = nadia.get("/api/v1/compliance/report", period)
    body = response.json()
    assert body["scope"] == ["pg://wh"] and whole["scope"] == "all namespaces"
    assert body["summary"] == whole["summary"] and body["violationCategories"] == whole["violationCategories"]
    assert not [name for name in HIDDEN_NAMES if name in response.content.decode()]
    assert body["pii"]["sourceCount"] == 1 and body["pii"]["hidden"] == {"sources": 1, "flows": 1}
    assert body["pii"]["flows"] == [] and whole["pii"]["flows"][0]["from"] == "datasetField:pg://crm:customers:email"
    assert body["secretAccess"]["total"] == 2 and body["secretAccess"]["hidden"] == 1
    assert [r["connection"] for r in body["secretAccess"]["recent"]] == [str(Connection.objects.get(slug="whconn").pk)]
    exposure = next(r for r in body["requirements"] if r["rule"] == "pii-exposure")["parameters"]
    assert (exposure["allowed_namespaces"], exposure["allowed_namespacesHidden"]) == (["pg://wh"], 1)
    rules = nadia.get("/api/v1/compliance/rules")
    assert rules.json()["scope"] == ["pg://wh"] and "pg://secret" not in rules.content.decode()
    assert "pg://secret" not in nadia.get("/api/v1/compliance/rules/pii-exposure").content.decode()
    gaps = next(v for v in body["recentViolations"] if v["rule"] == "lineage-coverage")
    assert gaps["detail"] == "2 violation(s) (2 listed outside your namespaces)" and gaps["restricted"] is True

    for fmt in ("csv", "pdf"):
        content = nadia.get("/api/v1/compliance/report", {**period, "format": fmt}).content
        text = (
            content.decode()
            if fmt == "csv"
            else "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
        )
        assert not [name for name in HIDDEN_NAMES if name in text], fmt
        assert "namespaces pg://wh" in text


def test_a_narrowed_auditor_reads_no_failed_login_in_the_report_as_in_the_audit_trail(client):
    """A failed login is about no namespace: the audit trail hides it from a narrowed auditor, and so does the
    report's list of recent violations (it is still counted)."""
    make_user("bartholomew", "viewer")
    client.post("/accounts/login/", {"username": "bartholomew", "password": "wrong"}, REMOTE_ADDR="192.0.2.4")
    end = timezone.now() + timedelta(minutes=1)
    period = {"start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()}
    nadia = login(Client(), make_user("nadia", "auditor", namespaces=("pg://wh",)))
    narrowed = nadia.get("/api/v1/compliance/report", period)
    assert narrowed.status_code == 200 and "bartholomew" not in narrowed.content.decode()
    assert "bartholomew" not in nadia.get("/api/v1/audit").content.decode()
    failures = [v for v in narrowed.json()["recentViolations"] if v["rule"] == "auth.login_failed"]
    assert failures and all(v["restricted"] for v in failures)
    audrey = login(Client(), make_user("audrey", "auditor"))
    assert "bartholomew" in audrey.get("/api/v1/compliance/report", period).content.decode()


def test_a_narrowed_auditor_sees_check_violations_of_their_namespaces_only(client):
    _two_namespaces()
    nadia = login(client, make_user("nadia", "auditor", namespaces=("pg://wh",)))
    response = nadia.get("/api/v1/compliance/checks")
    by_rule = {c["rule"]: c for c in response.json()["checks"]}
    assert response.json()["scope"] == ["pg://wh"]
    assert (by_rule["lineage-coverage"]["violationCount"], by_rule["lineage-coverage"]["hidden"]) == (2, 2)
    assert by_rule["lineage-coverage"]["violations"] == []
    assert [v["name"] for v in by_rule["pii-owner"]["violations"]] == ["contacts"]
    assert not [name for name in HIDDEN_NAMES if name in response.content.decode()]
    holds = nadia.get("/api/v1/compliance/holds").json()["holds"]
    assert holds == []

    page = nadia.get("/compliance/").content.decode()
    assert "outside your namespaces" in page and "contacts" in page
    assert not [name for name in HIDDEN_NAMES if name in page]


def test_a_global_auditor_sees_every_violation(auditor):
    _two_namespaces()
    by_rule = {c["rule"]: c for c in auditor.get("/api/v1/compliance/checks").json()["checks"]}
    assert [v["name"] for v in by_rule["lineage-coverage"]["violations"]] == ["customers", "ledger"]
    assert by_rule["lineage-coverage"]["hidden"] == 0
    assert [h["name"] for h in auditor.get("/api/v1/compliance/holds").json()["holds"]] == ["ledger"]
    assert "ledger" in auditor.get("/compliance/").content.decode()


def test_the_report_holds_no_more_memory_for_ten_times_the_history(auditor):
    """Why the report is rendered whole and not streamed (docs/architecture.md, Compliance): its memory is bounded
    by aggregate queries and capped lists, not by the period's history."""
    import tracemalloc

    end = timezone.now() + timedelta(minutes=1)
    start = end - timedelta(days=30)

    def peak() -> int:
        tracemalloc.start()
        services.generate_report(start=start, end=end, fmt="json", user=None)
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    def history(n: int) -> None:
        audit.bulk_append(
            {"action": "access.denied" if i % 3 else "auth.login", "actor": "cli:test", "outcome": "denied"}
            for i in range(n)
        )

    history(2_000)
    peak()  # the first report imports and caches (reportlab, the signing key): not what is measured
    small = peak()
    history(18_000)
    large = peak()
    assert large < small + 256 * 1024, (small, large)
