"""Stored XSS through event URLs, and the Content-Security-Policy behind it.

An ingest token may send any facet. A `sourceCodeLocation` whose url is `javascript:…` used to become a link on the
job page, and the admin who clicked it ran the sender's script. Now an event's URL is a link only when it is
absolute http(s) (the `external_link` filter, and static/js/links.js for pages that build links from API data),
and every page carries a policy under which the browser runs no inline script that Tributary did not put there.
"""

import html
import json
import re
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from governance.tokens import create_token
from lineage.browser import chromium, chromium_path, wait_for_graph
from lineage.models import Job, RawEvent
from lineage.read.pages import job_url
from lineage.templatetags.tributary import external_href, external_link

from .conftest import login, make_user
from .events import dataset, facet, job_type, run_event
from .test_pages import CSV, LANDING, MART, estate  # noqa: F401  (the estate fixture)

AIRFLOW = "airflow-prod"
WH = "postgres://warehouse:5432"
JOB = "etl.load_orders"
ORDERS = "analytics.raw.orders"

# (URL as an event sends it, the link target the pages may use or None for text). static/js/links.js is held to
# the same table in Chromium (test_the_browser_link_rule_agrees_with_the_pages_rule).
LINK_CASES = [
    ("https://github.com/acme/etl/blob/main/dags/etl.py", "https://github.com/acme/etl/blob/main/dags/etl.py"),
    ("http://gitlab.internal/acme/etl", "http://gitlab.internal/acme/etl"),
    ("HTTPS://GitHub.com/acme/etl", "HTTPS://GitHub.com/acme/etl"),
    ("  https://github.com/acme/etl \n", "https://github.com/acme/etl"),
    ("javascript:alert(document.cookie)", None),
    ("JAVASCRIPT:alert(document.cookie)", None),
    ("JaVaScRiPt:alert(1)", None),
    (" javascript:alert(1)", None),
    ("\x01javascript:alert(1)", None),
    ("java\tscript:alert(1)", None),
    ("java\nscript:alert(1)", None),
    ("javascript://github.com/%0Aalert(1)", None),
    ("data:text/html,<script>alert(1)</script>", None),
    ("vbscript:msgbox(1)", None),
    ("//evil.example/steal", None),
    ("/admin/auth/user/", None),
    ("dags/etl.py", None),
    ("mailto:data-team@acme.example", None),
    ("ftp://files.acme.example/etl.py", None),
    ("https:evil.example", None),
    ("https://", None),
    ("https:///evil.example", None),
    ("", None),
]


@pytest.mark.parametrize(("url", "expected"), LINK_CASES)
def test_only_absolute_http_and_https_urls_become_link_targets(url, expected):
    assert external_href(url) == expected


def test_a_url_shown_as_text_or_as_a_link_cannot_add_markup():
    assert external_link('javascript:alert(1)"><script>alert(2)</script>') == (
        "javascript:alert(1)&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    )
    assert external_link('https://acme.example/"onmouseover="alert(1)') == (
        '<a href="https://acme.example/&quot;onmouseover=&quot;alert(1)" rel="noopener noreferrer">'
        "https://acme.example/&quot;onmouseover=&quot;alert(1)</a>"
    )
    assert external_link(None) == ""


# --- The attack through the ingestion API -------------------------------------------------------------------


def malicious_job_event(url: str, *, key: str = "url") -> dict:
    # The facet's schema requires `url`; the job page falls back to repoUrl when url is empty.
    location = facet(type="git", url=url) if key == "url" else facet(type="git", url="", repoUrl=url)
    return run_event(
        "COMPLETE",
        run_id="evil-1",
        job=(AIRFLOW, JOB),
        job_facets={**job_type("TASK"), "sourceCodeLocation": location},
        outputs=[dataset(WH, ORDERS, dataSource=facet(name="warehouse", uri=url))],
    )


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value is not None)


def anchors(page: str) -> list[str]:
    parser = Anchors()
    parser.feed(page)
    return parser.hrefs


def is_safe_target(href: str) -> bool:
    """A page's own path (/…, ?…, #…) or an absolute http(s) URL."""
    cleaned = href.strip()
    return (cleaned[:1] in "/?#" and not cleaned.startswith("//")) or external_href(cleaned) == cleaned


SCRIPT_URLS = [
    "javascript:alert(document.cookie)",
    "JAVASCRIPT:alert(document.cookie)",
    " javascript:alert(document.cookie)",
    "java\tscript:alert(document.cookie)",
    "data:text/html,<script>alert(document.cookie)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/steal",
]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["url", "repoUrl"])
@pytest.mark.parametrize("url", SCRIPT_URLS)
def test_a_script_url_sent_with_an_ingest_token_is_stored_as_sent_and_shown_to_the_admin_as_text(
    client, post_event, url, key
):
    response = post_event(malicious_job_event(url, key=key))
    assert response.status_code == 201, response.json()
    # The raw event is kept verbatim: the guard is in rendering, not in refusing events.
    stored = json.loads(RawEvent.objects.get().body)
    assert stored["job"]["facets"]["sourceCodeLocation"][key] == url

    login(client, make_user("ada", "admin"))
    for path in (job_url(AIRFLOW, JOB), f"/datasets/{WH}/{ORDERS}"):
        page = client.get(path)
        assert page.status_code == 200
        text = page.content.decode()
        hrefs = anchors(text)
        assert hrefs, "the page has its own links"
        assert [href for href in hrefs if not is_safe_target(href)] == []
        assert html.escape(url.strip()) in text or html.escape(url) in text, "the URL is still shown, as text"


@pytest.mark.django_db
def test_an_https_source_location_is_still_a_link(client, post_event):
    url = "https://github.com/acme/etl/blob/main/dags/etl.py"
    assert post_event(malicious_job_event(url)).status_code == 201
    login(client, make_user("ada", "admin"))
    page = client.get(job_url(AIRFLOW, JOB)).content.decode()
    assert f'<a href="{url}" rel="noopener noreferrer">{url}</a>' in page
    dataset_page = client.get(f"/datasets/{WH}/{ORDERS}").content.decode()
    assert f'<code><a href="{url}" rel="noopener noreferrer">{url}</a></code>' in dataset_page


# --- The policy on every kind of page -----------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} has no Content-Security-Policy"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


class Scripts(HTMLParser):
    """Every <script> and <style> element and every inline event handler or style attribute of a page."""

    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.inline_attributes: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self.elements.append((tag, attributes))
        self.inline_attributes += [f"<{tag} {name}>" for name in attributes if name.startswith("on") or name == "style"]


@pytest.fixture
def attacked_estate(db, post_event):
    assert post_event(malicious_job_event("javascript:alert(document.cookie)")).status_code == 201


def page_paths() -> list[str]:
    node = f"job:{AIRFLOW}:{JOB}"
    return [
        "/",
        "/search/?q=orders",
        "/lineage/",
        f"/lineage/?nodeId={node}",
        f"/impact/?nodeId={node}",
        job_url(AIRFLOW, JOB),
        f"/datasets/{WH}/{ORDERS}",
        f"/classifications/flow/?nodeId=dataset:{WH}:{ORDERS}&classification=PII",
        "/audit/",
        "/compliance/",
        "/connections/",
        "/connections/new",
        "/tokens/",
        "/accounts/password_change/",
        "/api/docs/",
        "/admin/",
        "/admin/lineage/job/",
        "/admin/auth/user/add/",
        "/jobs/no/such/job",  # the 404 page
        "/api/v1/lineage?nodeId=" + node,  # JSON answers carry it too
    ]


def assert_strict(response) -> None:
    directives = policy(response)
    for name in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in directives[name]
        assert "'unsafe-eval'" not in directives[name]
        assert not {"*", "data:", "http:", "https:"} & set(directives[name])
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", page_paths())
def test_every_page_sends_a_policy_that_runs_only_the_pages_own_scripts(client, attacked_estate, path):
    login(client, make_user("ada", "admin"))
    response = client.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    assert_strict(response)
    if not response.headers["Content-Type"].startswith("text/html"):
        return
    nonces = [value[len("'nonce-") : -1] for value in policy(response)["script-src"] if value.startswith("'nonce-")]
    parser = Scripts()
    parser.feed(response.content.decode())
    for tag, attributes in parser.elements:
        if tag == "script" and ("src" in attributes or attributes.get("type") == "application/json"):
            continue
        # An inline script or style runs only with this answer's nonce; none of the product's pages has one.
        assert attributes.get("nonce") in nonces, (path, tag, attributes)
    assert parser.inline_attributes == [], path


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/account/mfa/setup/", "/healthz", "/no/such/page"])
def test_pages_before_login_send_the_policy_too(path):
    client = Client()
    if path == "/account/mfa/setup/":
        client.force_login(make_user("devi", "developer"))
    response = client.get(path)
    assert response.status_code in (200, 302, 404)
    assert_strict(response)


@pytest.mark.django_db
def test_the_swagger_ui_page_runs_its_inline_script_by_this_answers_nonce_only(client):
    login(client, make_user("vera", "viewer"))
    first, second = client.get("/api/docs/"), client.get("/api/docs/")
    nonce = re.search(r"'nonce-([^']+)'", first.headers["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in first.content.decode()
    assert nonce not in second.headers["Content-Security-Policy"], "a fresh nonce on every answer"


# --- In Chromium ------------------------------------------------------------------------------------------------


def in_chromium(test):
    """Marks a test that drives Chromium against the live server (transactional: the server reads what the test
    writes); skipped when no Chromium binary exists."""
    for mark in (
        pytest.mark.browser,
        pytest.mark.django_db(transaction=True),
        pytest.mark.skipif(chromium_path() is None, reason="no Chromium binary: apt-get install -y chromium"),
    ):
        test = mark(test)
    return test


PAYLOAD = "javascript:alert(document.cookie)"

# Each page reports what its policy refused; the binding hands it to the test, across navigations.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportViolation({page: location.pathname, directive: e.violatedDirective, blocked: e.blockedURI});
});
"""


class Watched:
    """A browser context that records CSP violations (as events and as console messages), page errors and
    dialogs (alert, confirm, prompt) of every page it opens."""

    def __init__(self, context):
        self.context = context
        self.violations: list[dict] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        context.expose_binding("reportViolation", lambda source, violation: self.violations.append(violation))
        context.add_init_script(REPORT_VIOLATIONS)

    def new_page(self):
        page = self.context.new_page()
        page.on("console", lambda message: self.console.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

        def dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        return page

    def csp_console(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def log_in(self, client, base: str, user) -> None:
        """The session of a user who passed both factors (the second factor is not what these tests are about)."""
        login(client, user)
        name = settings.SESSION_COOKIE_NAME
        host = urllib.parse.urlsplit(base).hostname
        cookie = {"name": name, "value": client.cookies[name].value, "domain": host, "path": "/"}
        # As the server would set it (Chromium keeps Secure cookies for 127.0.0.1 over http).
        cookie.update(secure=settings.SESSION_COOKIE_SECURE or name.startswith("__Host-"), httpOnly=True)
        self.context.add_cookies([cookie])


@pytest.fixture
def watched():
    with chromium() as context:
        yield Watched(context)
        # Queries made between browser steps use a separate connection under Playwright's loop: close it here.
        connections.close_all()


def send_over_http(base: str, event: dict, token: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/lineage",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


@pytest.fixture
def attacked(live_server, db):
    """What an ingest token holder sends: a job whose source location is a script."""
    token = create_token(name="airflow", scope="ingest").secret
    assert send_over_http(live_server.url, malicious_job_event(PAYLOAD), token) == 201
    return live_server.url


@in_chromium
def test_clicking_a_script_source_location_runs_nothing_on_the_job_page_or_in_the_explorer(attacked, client, watched):
    base = attacked
    watched.log_in(client, base, make_user("ada", "admin"))
    page = watched.new_page()
    page.goto(base + job_url(AIRFLOW, JOB))
    shown = page.get_by_text(PAYLOAD, exact=True)
    assert shown.evaluate("e => e.closest('a')") is None, "shown as text, not as a link"
    shown.click()
    page.wait_for_timeout(300)
    assert page.url == base + job_url(AIRFLOW, JOB)

    # The explorer shows the job's source location from the API answer, through links.js.
    page.goto(f"{base}/lineage/?nodeId=job:{AIRFLOW}:{JOB}")
    assert wait_for_graph(page) == 2
    source = page.locator("#node-details .source")
    assert source.inner_text() == f"Source: {PAYLOAD}"
    assert source.locator("a").count() == 0
    source.click()
    page.wait_for_timeout(300)

    assert watched.dialogs == []
    # Not even refused by the policy: there was no script URL to refuse.
    assert watched.violations == [] and watched.csp_console() == [] and watched.errors == []


@in_chromium
def test_markup_injected_into_a_page_runs_no_script_under_the_policy(attacked, client, watched):
    """Were some markup to reach a page unescaped, the browser would still run none of its script."""
    base = attacked
    watched.log_in(client, base, make_user("ada", "admin"))
    page = watched.new_page()
    page.goto(base + job_url(AIRFLOW, JOB))
    page.evaluate(
        """() => {
            const ran = "window.ran = (window.ran || []).concat";
            const script = document.createElement("script");
            script.textContent = ran + "('inline script')";
            document.body.appendChild(script);
            document.body.insertAdjacentHTML("beforeend",
                `<img id="evil-img" src="/static/no-such-image.png" onerror="${ran}('event handler')">` +
                `<a id="evil-link" href="javascript:${ran}('javascript: link')">click me</a>` +
                `<p id="evil-style" style="color: rgb(255, 0, 0)">styled</p>`);
        }"""
    )
    page.locator("#evil-link").click()
    page.wait_for_function("() => true")
    page.wait_for_timeout(500)
    assert page.evaluate("window.ran === undefined")
    assert page.locator("#evil-style").evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
    directives = sorted({v["directive"] for v in watched.violations})
    assert directives == ["script-src-attr", "script-src-elem", "style-src-attr"], watched.violations
    assert all(v["blocked"] == "inline" for v in watched.violations)
    assert len([v for v in watched.violations if v["directive"].startswith("script")]) == 3
    assert watched.csp_console(), "Chromium says why it refused"
    assert watched.dialogs == []


@in_chromium
def test_the_browser_link_rule_agrees_with_the_pages_rule(attacked, client, watched):
    watched.log_in(client, attacked, make_user("vera", "viewer"))
    page = watched.new_page()
    page.goto(attacked + "/")
    urls = [url for url, _ in LINK_CASES]
    answers = page.evaluate("urls => urls.map(u => Tributary.externalHref(u))", urls)
    assert list(zip(urls, answers, strict=True)) == LINK_CASES
    # Elements are built with the DOM: a URL or label with markup in it stays text.
    made = page.evaluate(
        """() => {
            const text = Tributary.externalLink("javascript:alert(1)", "<b>label</b>");
            const link = Tributary.externalLink("https://acme.example/<b>x</b>");
            return [text.nodeName, text.textContent, link.nodeName, link.getAttribute("href"), link.rel,
                    link.children.length, link.textContent];
        }"""
    )
    assert made == [
        "#text",
        "<b>label</b>",
        "A",
        "https://acme.example/<b>x</b>",
        "noopener noreferrer",
        0,
        "https://acme.example/<b>x</b>",
    ]


@in_chromium
@pytest.mark.usefixtures("estate")
def test_the_pages_scripts_work_in_chromium_under_the_policy_without_a_violation(live_server, client, watched):
    base = live_server.url
    watched.log_in(client, base, make_user("ada", "admin"))
    page = watched.new_page()

    # Home: instant search (tributary.js) shows results as the admin types.
    page.goto(base + "/")
    page.get_by_label("Search datasets, jobs and fields").fill("orders_daily")
    page.locator("#search-results a", has_text=MART).wait_for()

    # Dataset: the inline metadata editor saves through the API.
    page.goto(f"{base}/datasets/{WH}/{ORDERS}")
    page.get_by_text("Edit description, owners, tags and classifications").click()
    page.get_by_role("textbox", name=re.compile("^Tags")).fill("gold")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert page.locator("[data-show=tags] .chip-steward").all_inner_texts() == ["gold"]

    # Job: the duration chart and the failures.
    page.goto(base + job_url(AIRFLOW, "etl.build_mart"))
    assert page.locator("figure.chart svg circle").count() >= 1

    # Explorer: cytoscape draws the graph; selecting a node shows its details.
    page.goto(f"{base}/lineage/?nodeId=dataset:{WH}:{ORDERS}")
    assert wait_for_graph(page) == 5
    page.locator("#node-list .node-item", has_text="etl.build_mart").click()
    assert page.locator("#node-details h2").inner_text() == "etl.build_mart"
    assert page.locator("#graph canvas").count() >= 1

    # Impact: its graph, and the copy button.
    page.goto(f"{base}/impact/?nodeId=dataset:{LANDING}:{CSV}")
    assert wait_for_graph(page) >= 4
    page.get_by_role("button", name="Copy notification").click()
    page.get_by_text("Copied to the clipboard.").wait_for()

    # Audit trail: the verify button (audit.js) checks the shown records.
    page.goto(base + "/audit/")
    assert page.locator(".audit-filters").evaluate("e => getComputedStyle(e).display") == "grid", "audit.css applies"
    page.get_by_role("button", name=re.compile("^Verify integrity")).click()
    page.locator("#verify-result.ok").wait_for()
    assert page.locator("#verify-result").inner_text().startswith("Intact")

    # Compliance and the classification flow.
    page.goto(base + "/compliance/")
    assert page.locator("h1").inner_text() == "Compliance"
    page.goto(f"{base}/classifications/flow/?nodeId=dataset:{WH}:{ORDERS}&classification=PII")
    assert page.locator("h1").count() == 1

    # Swagger UI renders the API's operations from the schema.
    page.goto(base + "/api/docs/")
    page.locator(".opblock-tag").first.wait_for()
    assert page.locator(".opblock").count() > 10

    # Django admin: its own scripts run (the theme switch, theme.js) on the index, a change list and a form.
    change = f"/admin/lineage/job/{Job.objects.get(name='etl.build_mart').pk}/change/"
    for path in ("/admin/", "/admin/lineage/job/", change, "/admin/auth/user/add/"):
        page.goto(base + path)
        before = page.evaluate("document.documentElement.dataset.theme")
        page.locator("button.theme-toggle").first.click()
        assert page.evaluate("document.documentElement.dataset.theme") != before, path

    assert watched.violations == [], watched.violations
    assert watched.csp_console() == []
    assert watched.errors == []
    assert watched.dialogs == []
