"""Stored XSS through event URLs, and the Content-Security-Policy behind it.

An ingest token may send any facet. A `sourceCodeLocation` whose url is `javascript:…` used to become a link on the
job page, and the admin who clicked it ran the sender's script. Now an event's URL is a link only when it is
absolute http(s) (the `external_link` filter, and static/js/links.js for pages that build links from API data),
and every page carries a policy under which the browser runs no inline script that Tributary did not put there.
"""

import html
import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from lineage.models import RawEvent
from lineage.page_selectors import job_url
from lineage.templatetags.tributary import external_href, external_link

from .conftest import login, make_user
from .events import dataset, facet, job_type, run_event

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
def estate(db, post_event):
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
def test_every_page_sends_a_policy_that_runs_only_the_pages_own_scripts(client, estate, path):
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
