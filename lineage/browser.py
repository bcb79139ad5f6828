"""Driving Debian's Chromium with Playwright: for the browser tests, the screenshots and the UI benchmark.

Playwright's own browser download is not used: CI installs `chromium` from Debian and we launch that binary
(`TRIBUTARY_CHROMIUM`, default /usr/bin/chromium).
"""

import os
import shutil
from contextlib import contextmanager

CHROMIUM = os.environ.get("TRIBUTARY_CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium(*, width: int = 1440, height: int = 900):
    """A fresh browser context (its own cookies) on a laptop-sized viewport."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(f"no Chromium at {CHROMIUM}: apt-get install -y chromium, or set TRIBUTARY_CHROMIUM")
    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls under a running loop
    # unless told that this is intended (the calls are ours, made between browser steps).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
            yield context
        finally:
            browser.close()


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def wait_for_graph(page, timeout: float = 30_000) -> int:
    """Wait until the explorer says its graph is drawn and interactive and its side lists are filled; the number
    of nodes drawn."""
    page.wait_for_selector("#graph[data-ready=true][data-listed=true]", state="attached", timeout=timeout)
    return int(page.get_attribute("#graph", "data-nodes") or 0)
