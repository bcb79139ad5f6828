"""A user narrowed to some namespaces sees only those, everywhere; boundaries show as redacted nodes."""

import json

import pytest
from guardian.shortcuts import assign_perm

from governance.models import Namespace
from governance.tokens import create_token
from lineage.derive.queue import derive_pending
from lineage.ingest.services import ingest_event

from .conftest import login, make_user
from .events import dataset, run_event

pytestmark = pytest.mark.django_db

FIN, SALES, HR = "finance", "sales", "hr"


@pytest.fixture
def estate(db):
    """hr.employees ─hr.export─ finance.payroll ─finance.report─ finance.costs ─sales.plan─ sales.targets"""
    steps = [
        ("hr.export", HR, [(HR, "employees")], [(FIN, "payroll")]),
        ("finance.report", FIN, [(FIN, "payroll")], [(FIN, "costs")]),
        ("sales.plan", SALES, [(FIN, "costs")], [(SALES, "targets")]),
    ]
    for number, (job, namespace, inputs, outputs) in enumerate(steps):
        ingest_event(
            event=run_event(
                "COMPLETE",
                run_id=f"r{number}",
                job=(namespace, job),
                seconds=number,
                inputs=[dataset(*i, owners=["team:x"]) for i in inputs],
                outputs=[dataset(*o) for o in outputs],
            ),
            source="cli",
            derive=False,
        )
    derive_pending()


@pytest.fixture
def finance_viewer(client, estate):
    return login(client, make_user("fiona", "viewer", namespaces=(FIN,)))


def graph(response):
    assert response.status_code == 200, response.content
    return response.json()["graph"]


def test_lineage_shows_the_boundary_as_redacted_nodes_and_no_names(finance_viewer):
    response = finance_viewer.get("/api/v1/lineage", {"nodeId": f"dataset:{FIN}:costs", "direction": "both"})
    nodes = {node["id"]: node for node in graph(response)}
    visible = {i for i in nodes if not i.startswith("restricted:")}
    assert visible == {f"dataset:{FIN}:costs", "job:finance:finance.report", f"dataset:{FIN}:payroll"}
    restricted = [n for n in nodes.values() if n["id"].startswith("restricted:")]
    # Upstream the hr job that writes payroll, downstream the sales job that reads costs: boundaries, not walked.
    assert sorted(n["type"] for n in restricted) == ["JOB", "JOB"]
    assert all(n["data"] == {"restricted": True} for n in restricted)
    text = response.content.decode()
    for secret in ("hr.export", "sales.plan", "employees", "targets", HR + ":", SALES + ":"):
        assert secret not in text


def test_a_node_in_another_namespace_is_not_found(finance_viewer):
    for path in ("/api/v1/lineage", "/api/v1/impact", "/api/v1/column-lineage", "/api/v1/metadata"):
        assert finance_viewer.get(path, {"nodeId": f"dataset:{HR}:employees"}).status_code == 404, path


def test_impact_counts_but_does_not_name_what_is_restricted(finance_viewer):
    body = finance_viewer.get("/api/v1/impact", {"nodeId": f"dataset:{FIN}:payroll"}).json()
    assert [d["id"] for d in body["datasets"]] == [f"dataset:{FIN}:costs"]
    assert body["summary"]["restricted"] == 1  # the sales job, not walked through
    assert "sales" not in json.dumps(body)


def test_the_report_covers_only_visible_namespaces(finance_viewer):
    body = finance_viewer.get("/api/v1/lineage/report").json()
    assert (body["datasets"], body["transformations"]) == (2, 1)


def test_the_home_page_counts_only_visible_namespaces(finance_viewer):
    page = finance_viewer.get("/").content.decode()
    assert "finance.report" in page and "hr.export" not in page and "sales.plan" not in page


def test_a_group_grant_narrows_its_members(client, estate):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="sales-team")
    assign_perm("governance.access_namespace", team, Namespace.objects.get(name=SALES))
    user = make_user("sam", "viewer")
    user.groups.add(team)
    login(client, user)
    assert client.get("/api/v1/lineage", {"nodeId": f"dataset:{SALES}:targets"}).status_code == 200
    assert client.get("/api/v1/lineage", {"nodeId": f"dataset:{FIN}:costs"}).status_code == 404


def test_a_narrowed_steward_edits_only_in_their_namespaces(client, estate):
    login(client, make_user("stella", "steward", namespaces=(FIN,)))
    body = json.dumps({"tags": ["pii"]})
    inside = client.patch(f"/api/v1/metadata?nodeId=dataset:{FIN}:payroll", body, content_type="application/json")
    assert inside.status_code == 200 and inside.json()["tags"] == ["pii"]
    outside = client.patch(f"/api/v1/metadata?nodeId=dataset:{HR}:employees", body, content_type="application/json")
    assert outside.status_code == 404


def test_an_unnarrowed_role_sees_everything(client, estate):
    login(client, make_user("vic", "viewer"))
    nodes = graph(client.get("/api/v1/lineage", {"nodeId": f"dataset:{FIN}:costs"}))
    assert not any(n["id"].startswith("restricted:") for n in nodes)
    assert len(nodes) == 7


def test_a_read_token_is_narrowed_to_its_namespaces(client, estate):
    token = create_token(name="finance-script", scope="read", namespaces=[FIN]).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/lineage", {"nodeId": f"dataset:{FIN}:costs"}, **auth).status_code == 200
    assert client.get("/api/v1/lineage", {"nodeId": f"dataset:{HR}:employees"}, **auth).status_code == 404


def test_a_developer_narrowed_to_finance_can_only_make_finance_tokens(client, estate):
    login(client, make_user("dora", "developer", namespaces=(FIN,)))
    refused = client.post("/api/v1/tokens", {"name": "everything", "scope": "ingest"}, content_type="application/json")
    assert refused.status_code == 403
    outside = client.post(
        "/api/v1/tokens", {"name": "hr", "scope": "ingest", "namespaces": [HR]}, content_type="application/json"
    )
    assert outside.status_code == 403
    ok = client.post(
        "/api/v1/tokens", {"name": "fin", "scope": "ingest", "namespaces": [FIN]}, content_type="application/json"
    )
    assert ok.status_code == 201 and ok.json()["token"].startswith("trb_")
