"""POST /api/v1/audit/verify checks its body; auditors may run the chain check and the compliance checks, which
append records of the run and change nothing else; viewers may not."""

import json

import orjson
import pytest

from governance import audit
from governance.models import AuditRecord

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/audit/verify"


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body)  # stdlib json: it writes integers of any size
    return client.generic("POST", VERIFY, data, content_type=content_type)


@pytest.fixture
def auditor(as_user):
    for n in range(3):
        audit.record("metadata.updated", actor="cli:test", target=("dataset", f"dataset:airflow:t{n}", f"t{n}"))
    return as_user("audrey")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"first": {}}, "/first"),
        ({"first": 1e30}, "/first"),
        ({"first": 2.5}, "/first"),
        ({"first": 3.0}, "/first"),
        ({"first": "abc"}, "/first"),
        ({"first": "1e3"}, "/first"),
        ({"first": "-4"}, "/first"),
        ({"first": -4}, "/first"),
        ({"first": 0}, "/first"),
        ({"first": True}, "/first"),
        ({"first": [1]}, "/first"),
        ({"first": 2**63}, "/first"),
        ({"first": 10**400}, "/first"),
        ({"last": {"$gt": 1}}, "/last"),
        ({"last": -1}, "/last"),
        ({"last": "x" * 5000}, "/last"),
        ({"first": 5, "last": 2}, "/last"),
        ({"frist": 1}, "/frist"),
        ([1, 2], ""),
        ("first", ""),
        (7, ""),
        (None, ""),
    ],
)
def test_a_bad_verify_body_gets_a_400_naming_the_field(auditor, body, pointer):
    before = AuditRecord.objects.count()
    response = post(auditor, body)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == 400 and answer["message"]
    assert [error["path"] for error in answer["errors"]] == [pointer]
    assert answer["errors"][0]["message"] and answer["detail"] == answer["message"]
    assert AuditRecord.objects.count() == before  # nothing verified, nothing recorded


def test_a_body_that_is_not_json_gets_a_400_in_the_same_shape(auditor):
    response = post(auditor, b'{"first": ')
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 400 and answer["errors"][0]["path"] == "" and "JSON" in answer["message"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, (1, "end")),
        ({"first": None, "last": None}, (1, "end")),
        ({"first": 2}, (2, "end")),
        ({"first": 1, "last": 2}, (1, 2)),
        ({"first": "2", "last": "2"}, (2, 2)),  # digits, as a form would send them
        ({"first": 2, "last": 2**63 - 1}, (2, "end")),
    ],
)
def test_good_verify_bodies_are_answered(auditor, body, expected):
    end = AuditRecord.objects.count()  # the last record before this verification
    answer = post(auditor, body).json()
    assert answer["ok"] is True and (answer["first"], answer["last"]) == tuple(
        end if x == "end" else x for x in expected
    )


# Running a check is an auditor's right: it changes no governed data and only appends the record of the run.


def governed_state() -> dict:
    """Everything an auditor must not change: users, roles and grants, tokens, connections, lineage metadata,
    compliance rules and holds, and every audit record written so far."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.models import UserObjectPermission

    from compliance.models import ComplianceRule, LegalHold
    from governance.models import ApiToken, Connection
    from lineage.models import Annotation, Dataset, Job

    def rows(model):
        return sorted(orjson.dumps(row, default=str) for row in model.objects.values())

    models = [get_user_model(), Group, UserObjectPermission, ApiToken, Connection, Dataset, Job, Annotation]
    state = {model.__name__: rows(model) for model in [*models, ComplianceRule, LegalHold]}
    state["groups"] = sorted(get_user_model().groups.through.objects.values_list("user_id", "group_id"))
    state["audit"] = list(AuditRecord.objects.order_by("sequence").values_list("sequence", "hash"))
    return state


def test_an_auditor_may_verify_the_chain_and_run_the_compliance_checks_changing_nothing_but_appending_records(
    auditor,
):
    before = governed_state()
    assert post(auditor, {}).status_code == 200
    assert auditor.post("/api/v1/compliance/checks").status_code == 200
    after = governed_state()
    recorded = after.pop("audit")
    assert recorded[: len(before["audit"])] == before.pop("audit")  # the records before are untouched
    assert after == before
    appended = AuditRecord.objects.filter(sequence__gt=len(recorded) - 2).order_by("sequence")
    assert [item.action for item in appended] == ["audit.verified", "compliance.checked"]
    assert {item.actor_label for item in appended} == {"audrey"}
    assert audit.verify_chain().ok


def test_a_viewer_may_neither_verify_the_chain_nor_run_the_compliance_checks(as_user):
    viewer = as_user("vera")
    assert post(viewer, {}).status_code == 403
    assert viewer.post("/api/v1/compliance/checks").status_code == 403
    assert not AuditRecord.objects.filter(action__in=["audit.verified", "compliance.checked"]).exists()
    assert AuditRecord.objects.filter(action="access.denied", actor_label="vera").count() == 2
