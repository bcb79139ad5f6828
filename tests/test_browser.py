"""The steward's scenario in a real browser (Playwright driving Debian's Chromium against a live server):
log in, search, open a dataset, open its lineage, expand a node, switch direction, collapse a DAG, open impact,
edit a tag as a steward, and fail to as a viewer.

Skipped, with the reason shown, only when no Chromium binary exists (CI installs it: see .ci/run).
"""

import re
from pathlib import Path

import pytest
from django.db import connections

from lineage.browser import chromium, chromium_path, log_in, wait_for_graph
from lineage.models import Annotation

from .conftest import make_user
from .test_pages import AIRFLOW, CSV, MART, ORDERS, WH, estate  # noqa: F401  (the estate fixture)

pytestmark = [
    pytest.mark.browser,
    # Transactional: the live server reads what the test writes. The flush after each test empties the tables; the
    # role groups come back with the post_migrate signal that follows it (governance.apps).
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(chromium_path() is None, reason="no Chromium binary: apt-get install -y chromium"),
]


@pytest.fixture
def people(estate):  # noqa: F811
    make_user("stan", "steward")
    make_user("vera", "viewer")
    return {"stan": "Stan-password-1", "vera": "Vera-password-1"}


@pytest.fixture
def browser_context():
    with chromium() as context:
        yield context
        # Queries made between browser steps run while Playwright's event loop is current, and Django keeps a
        # separate connection for that context: close it here, or it outlives the test database.
        connections.close_all()


def node_labels(page) -> list[str]:
    return page.locator("#node-list .node-item").evaluate_all("items => items.map(i => i.firstChild.textContent)")


def test_a_steward_explores_lineage_and_impact_and_edits_a_tag(live_server, people, browser_context):
    base = live_server.url
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The pages run under their Content-Security-Policy: Chromium logs whatever it refuses to run or apply.
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))

    log_in(page, base, "stan", people["stan"])

    # Search: results appear as the steward types, and lead to the dataset.
    page.get_by_label("Search datasets, jobs and fields").fill("raw.ord")
    result = page.locator("#search-results a", has_text=ORDERS)
    result.wait_for()
    result.click()
    page.wait_for_url(re.compile(r"/datasets/"))
    assert page.locator("h1").inner_text().startswith(ORDERS)
    assert WH in page.locator(".crumbs").inner_text()

    # Its lineage: everything within six edges.
    page.get_by_role("link", name="Explore lineage").click()
    page.wait_for_url(re.compile(r"/lineage/\?"))
    assert wait_for_graph(page) == 5  # CSV, load, orders, build, mart
    assert MART in node_labels(page)

    # One edge each way, then expand the consumer one hop: the mart comes back.
    page.get_by_label("Depth").fill("1")
    page.get_by_label("Depth").dispatch_event("change")
    assert wait_for_graph(page) == 3
    assert MART not in node_labels(page)
    page.locator("#node-list .node-item", has_text="etl.build_mart").click()
    page.get_by_role("button", name="Expand one hop").click()
    assert wait_for_graph(page) == 4
    assert MART in node_labels(page)
    assert "Expanded etl.build_mart: 1 new node" in page.locator("#graph-status").inner_text()

    # Upstream only: the consumer side disappears.
    page.get_by_label("Upstream").check()
    assert wait_for_graph(page) == 2
    assert node_labels(page) == [ORDERS, "etl.load_orders"]

    # Both ways, deep, with tasks collapsed into their DAG.
    page.get_by_label("Both").check()
    wait_for_graph(page)
    page.get_by_label("Depth").fill("6")
    page.get_by_label("Depth").dispatch_event("change")
    wait_for_graph(page)
    page.get_by_label("Collapse tasks into their DAG").check()
    assert wait_for_graph(page) == 4  # CSV, orders, mart and the DAG
    labels = node_labels(page)
    assert "etl (2 tasks)" in labels and "etl.load_orders" not in labels

    # Path between two nodes, and find in the graph.
    page.locator("#node-list .node-item", has_text=CSV).click()
    page.get_by_role("button", name="Path from here").click()
    page.locator("#node-list .node-item", has_text=MART).click()
    page.get_by_role("button", name="Path to here").click()
    # Through the collapsed DAG.
    assert "Path of 2 step(s) highlighted" in page.locator("#path-status").inner_text()
    page.get_by_label("Find in graph").fill("orders")
    assert page.locator("#find-status").inner_text().startswith("3 matches")

    # Export the drawing.
    for button, filename in (("Export PNG", "lineage.png"), ("Export SVG", "lineage.svg")):
        with page.expect_download() as download:
            page.get_by_role("button", name=button).click()
        assert download.value.suggested_filename == filename
        content = Path(download.value.path()).read_bytes()
        if filename.endswith(".png"):
            assert content.startswith(b"\x89PNG")
        else:
            assert content.startswith(b"<svg") and b"<line" in content and b"<text" in content

    # Back in time with the slider (from the keyboard): the graph as it stood when the dataset first appeared.
    page.get_by_role("slider").focus()
    page.keyboard.press("Home")
    wait_for_graph(page)
    assert " as of " in page.locator("#graph-status").inner_text()

    # A large answer: only the nearest nodes, and a control for more.
    page.goto(f"{base}/lineage/?nodeId=dataset:{WH}:{ORDERS}&limit=2")
    assert wait_for_graph(page) == 2
    assert "Showing the 2 nearest of 5 nodes." in page.locator("#more").inner_text()
    page.get_by_role("button", name=re.compile(r"^Show \d+ more$")).click()
    assert wait_for_graph(page) == 5
    assert page.locator("#more").is_hidden()

    # Impact of changing the landing file.
    page.goto(f"{base}/datasets/s3://acme-landing/{CSV}")
    page.get_by_role("link", name="Impact of a change").click()
    wait_for_graph(page)
    assert "Impact of changing " + CSV in page.locator("h1").inner_text()
    assert "etl.build_mart" in page.locator("#dags-h + h3 + table, section[aria-labelledby=dags-h]").first.inner_text()
    assert "team:finance" in page.get_by_label("Notification text").input_value()

    # Edit a tag inline (PATCH /api/v1/metadata): it shows at once and is stored.
    page.goto(f"{base}/datasets/{WH}/{ORDERS}")
    page.get_by_text("Edit description, owners, tags and classifications").click()
    page.get_by_role("textbox", name=re.compile("^Tags")).fill("gold, finance")
    page.get_by_role("textbox", name=re.compile("^Classifications")).fill("PII")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert page.locator("[data-show=tags] .chip-steward").all_inner_texts() == ["gold", "finance"]
    annotation = Annotation.objects.get(kind="dataset", namespace=WH, name=ORDERS)
    assert annotation.tags == ["gold", "finance"] and annotation.classifications == ["PII"]
    page.reload()
    assert page.locator(".badge-pii").is_visible()
    assert errors == []


def test_a_viewer_cannot_edit_a_tag(live_server, people, browser_context):
    base = live_server.url
    page = browser_context.new_page()
    refused = []
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
    log_in(page, base, "vera", people["vera"])
    page.goto(f"{base}/datasets/{WH}/{ORDERS}")
    assert page.locator("h1").inner_text().startswith(ORDERS)
    # No editor is offered...
    assert page.locator("form[data-metadata-form]").count() == 0
    assert page.get_by_text("Edit description, owners, tags and classifications").count() == 0
    # ...and going around the page is refused by the API and by the form.
    status = page.evaluate(
        """async (nodeId) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const r = await fetch("/api/v1/metadata?nodeId=" + encodeURIComponent(nodeId), {
                method: "PATCH", headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                body: JSON.stringify({tags: ["hacked"]})});
            const form = new FormData();
            form.append("csrfmiddlewaretoken", token);
            form.append("node", nodeId);
            form.append("tags", "hacked");
            const f = await fetch("/metadata/", {method: "POST", body: form});
            return [r.status, f.status];
        }""",
        f"dataset:{WH}:{ORDERS}",
    )
    assert status == [403, 403]
    assert not Annotation.objects.exists()
    assert refused == []


def test_no_page_scrolls_sideways_on_a_phone(live_server, estate, browser_context):  # noqa: F811
    """At 390 px (a phone held upright) the page itself never scrolls sideways: the top bar wraps, wide tables
    scroll inside their own box, long names break. An admin sees every page, connections and audit included."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    base = live_server.url
    admin = make_user("ada", "admin")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("Ada-password-1")
    page.get_by_role("button", name="Log in").click()
    page.fill("#id_code", f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}")
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/connections/new")
    page.fill("#id_slug", "warehouse-with-a-rather-long-connection-id")
    page.fill("#id_namespaces_text", WH)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/connections/warehouse-with-a-rather-long-connection-id/$"))

    node = f"dataset%3A{WH.replace(':', '%3A').replace('/', '%2F')}%3A{MART}"
    paths = [
        "/",
        "/search/?q=orders",
        f"/datasets/{WH}/{MART}",
        f"/jobs/{AIRFLOW}/etl.build_mart",
        f"/lineage/?nodeId={node}",
        f"/impact/?nodeId={node}",
        "/connections/",
        "/connections/warehouse-with-a-rather-long-connection-id/",
        "/connections/warehouse-with-a-rather-long-connection-id/edit",
        "/connections/new",
        "/tokens/",
        "/audit/",
        "/compliance/",
    ]
    wide = {}
    for path in paths:
        answer = page.goto(base + path)
        assert answer.status == 200, path
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    assert wide == {}
