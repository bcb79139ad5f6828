"""Transport: production settings are HTTPS-only by default, the deployment check passes on the environment the
README documents, a client cannot talk its way into "HTTPS" without a declared proxy, and the README's local run
command still works in a browser over plain HTTP.

Settings are read once per process, so each case runs Django in a child process with the environment it names.
"""

import http.client
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from lineage.browser import chromium, chromium_path, log_in
from lineage.uiserver import free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "tributary.example"
# The production environment of README.md ("Run in production"), with throwaway values.
PRODUCTION = {
    "DATABASE_URL": "postgresql://127.0.0.1:5432/tributary",
    "DJANGO_SECRET_KEY": "k" * 20 + "Jq7-Xv2_Lm9pR4sT8wZ3nB6cF1hD5gK0aE_yU" + "q" * 10,
    "ALLOWED_HOSTS": HOST,
    "TRIBUTARY_FERNET_KEYS": "9-a6wkbMKNtl2BfOvbq8L9t8fNSNyPlKtTQgz4lvZhQ=",
}
# Settings this shell (or an earlier test, such as the browser's DJANGO_ALLOW_ASYNC_UNSAFE) may have set; each case
# says which it wants.
OURS = ("TRIBUTARY_", "DJANGO_", "DATABASE_URL", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "CELERY_BROKER_URL")


def environment(tmp_path: Path, **values: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(OURS)}
    return {**env, "TRIBUTARY_VAR_DIR": str(tmp_path / "var"), "LOG_LEVEL": "WARNING", **values}


def manage(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def transport_settings(env: dict) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({k: "
        "getattr(s, k, None) for k in ('SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_HTTPONLY', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER', "
        "'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY', 'X_FRAME_OPTIONS')}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "governance.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(run.stdout)


def test_the_documented_production_environment_passes_the_deployment_check(tmp_path):
    run = manage(environment(tmp_path, **PRODUCTION), "check", "--deploy", "--fail-level", "WARNING")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout


def test_the_plain_http_switch_in_production_fails_the_deployment_check(tmp_path):
    run = manage(
        environment(tmp_path, **PRODUCTION, TRIBUTARY_PLAIN_HTTP="1"), "check", "--deploy", "--fail-level", "WARNING"
    )
    assert run.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in run.stderr + run.stdout


def test_production_settings_are_https_only_by_default(tmp_path):
    values = transport_settings(environment(tmp_path, **PRODUCTION))
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": None,  # X-Forwarded-Proto is not believed unless a proxy is declared
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
    }


@pytest.mark.parametrize(
    ("switches", "plain"),
    [
        ({}, True),  # the embedded default: the README's runserver on a laptop
        ({"TRIBUTARY_PLAIN_HTTP": "0"}, False),
        ({"TRIBUTARY_SECURE_COOKIES": "1"}, False),  # the older switch still asks for HTTPS
        ({**PRODUCTION, "TRIBUTARY_PLAIN_HTTP": "1"}, True),  # PostgreSQL on one's own machine
        ({**PRODUCTION, "DJANGO_DEBUG": "1"}, True),
        ({**PRODUCTION, "TRIBUTARY_SECURE_COOKIES": "0"}, False),  # the older switch cannot turn HTTPS off
    ],
    ids=["embedded", "embedded-https", "embedded-secure-cookies", "production-plain", "debug", "old-switch-off"],
)
def test_plain_http_is_for_the_embedded_default_debug_or_the_explicit_switch(tmp_path, switches, plain):
    values = transport_settings(environment(tmp_path, **switches))
    assert values["SECURE_SSL_REDIRECT"] is not plain
    assert values["SESSION_COOKIE_SECURE"] is not plain
    assert values["CSRF_COOKIE_SECURE"] is not plain
    assert (values["SECURE_HSTS_SECONDS"] == 0) is plain


@contextmanager
def server(env: dict):
    """runserver in a child process with `env`; yields a function making a plain-HTTP request to it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def request(path: str, **headers: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers={"Host": HOST, **headers})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request("/healthz")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield request
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("production")
    env = environment(tmp_path, **{**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    with server(env) as request:
        yield request


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("proxied")
    env = environment(
        tmp_path,
        **{
            **PRODUCTION,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TRIBUTARY_PROXY_SETS_X_FORWARDED_PROTO": "1",
        },
    )
    with server(env) as request:
        yield request


@pytest.mark.slow
def test_a_page_asked_for_over_plain_http_is_redirected_to_https(production_server):
    response = production_server("/accounts/login/")
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}/accounts/login/"
    assert response.getheader("Set-Cookie") is None


@pytest.mark.slow
def test_a_client_claiming_https_is_not_believed_without_a_declared_proxy(production_server):
    response = production_server("/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert response.status == 301
    assert response.getheader("Strict-Transport-Security") is None


@pytest.mark.slow
def test_the_health_probe_answers_over_plain_http_for_load_balancers(production_server):
    assert production_server("/healthz").status == 200


@pytest.mark.slow
def test_behind_a_declared_proxy_pages_carry_hsts_and_secure_cookies(proxied_server):
    assert proxied_server("/accounts/login/").status == 301  # the proxy said nothing: plain HTTP
    response = proxied_server("/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert response.status == 200
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("Referrer-Policy") == "same-origin"
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith("csrftoken=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly"} <= attributes


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="no Chromium binary: apt-get install -y chromium")
def test_the_readme_run_command_logs_in_over_plain_http_in_chromium(tmp_path):
    # The README's first command, in a fresh folder: the embedded default, no switch set.
    env = environment(tmp_path)
    for step in (("migrate", "-v0"), ("create_demo_users",)):
        run = manage(env, *step)
        assert run.returncode == 0, run.stderr
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with chromium() as context:
            page = context.new_page()
            deadline = time.monotonic() + 30
            while True:
                try:
                    page.goto(f"{base}/accounts/login/")
                    break
                except Exception:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            log_in(page, base, "viewer", "Viewer-demo-pass1")
            assert page.url == f"{base}/"
            assert {cookie["name"] for cookie in context.cookies()} >= {"sessionid", "csrftoken"}
    finally:
        process.terminate()
        process.wait(timeout=10)
