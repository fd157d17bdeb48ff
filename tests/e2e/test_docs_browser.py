"""``/docs`` works without internet: headless Chromium, every request off the
machine refused, against a real ``modelbay serve`` that requires API keys.

The page's scripts (Swagger UI) used to come from a CDN, so on a machine without
internet ``/docs`` was a blank page. Here the browser may reach 127.0.0.1 only: a request
anywhere else is aborted and recorded, and the test fails if there was one, or if the page
does not list the API's operations. The browser is Debian's ``chromium`` (``make test``
installs it); Playwright only drives it and never downloads a browser of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.servers import running_server

CHROMIUM = Path("/usr/bin/chromium")
# as the machine's probe starts it: no first-run work, and none of Chromium's own traffic
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
ADMIN = "docs-test-admin-key-0123456789abcdef"
OPERATIONS = ("/v2/models/{name}/infer", "/v1/models/{name}:predict", "/api/deployments/{name}")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("docs")
    with running_server(home, "--workers", "1", auth=True, MODELBAY_ADMIN_KEY=ADMIN) as u:
        yield u


def _browse(url: str, path: str, ready: str) -> tuple[str, list[str], list[str]]:
    """Open ``url + path`` offline; wait for ``ready`` (a CSS selector) and return the page's
    text, the requests refused for leaving the machine, and the requests that failed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"headless Chromium is needed at {CHROMIUM}: `apt-get install chromium` "
            "(`make test` installs it)"
        )
    from playwright.sync_api import Route, sync_playwright
    from playwright.sync_api import TimeoutError as NotShown

    refused: list[str] = []
    failed: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_loopback)
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(url + path)
            try:
                page.wait_for_selector(ready, timeout=30_000)
            except NotShown:
                pytest.fail(
                    f"{path} showed no {ready} in 30 s; refused for leaving the machine: "
                    f"{refused}; failed: {failed}"
                )
            text = page.inner_text("body")
        finally:
            browser.close()
    return text, refused, failed


def test_docs_list_the_operations_with_the_network_off(url: str) -> None:
    assert "MODELBAY_API_KEY" not in os.environ  # the browser sends no key: the docs are public
    text, refused, failed = _browse(url, "/docs", ".opblock")
    assert refused == [], f"/docs reached off the machine: {refused}"
    assert failed == [], f"requests failed: {failed}"
    for operation in OPERATIONS:
        assert operation in text, f"{operation} is not listed on /docs"


def test_there_is_no_redoc_page_to_load_from_a_cdn(url: str) -> None:
    """ReDoc fetches its logo from its vendor's site even with its script served here."""
    assert httpx.get(f"{url}/redoc").status_code == 404
