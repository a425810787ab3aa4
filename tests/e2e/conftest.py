"""Fixtures for the real-browser journeys; their API is documented in harness.py.

One browser and one live server per session (per xdist worker); each test
gets a clean database with the demo shop seeded, and its own browser
contexts, parametrised over the desktop and phone devices.
"""
from __future__ import annotations

import os

import pytest

from storefront.extensions import limiter
from tests.conftest import make_test_app

from .harness import CHROMIUM, DEVICES, LiveServer, Shop, ShopPage, missing


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # The tab fixture's teardown asserts the tabs are clean only when the test itself passed.
    report = yield
    setattr(item, f"e2e_rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser(request):
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("playwright is not installed (pip install -r requirements-dev.txt)")
    if not os.path.exists(CHROMIUM):
        missing(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return request.getfixturevalue("chromium_browser")


@pytest.fixture(scope="session")
def live_server(_app, database_url, instance_dir):
    """Every bundled plugin, CSRF on, the real CSP; on the test database."""
    before = limiter.enabled  # one flag shared by every app: leave it as the other tests set it
    try:
        flask_app = make_test_app(database_url, instance_dir, WTF_CSRF_ENABLED=True,
                                  # Journeys sign in many times from 127.0.0.1; throttling has its own tests.
                                  STOREFRONT_LOGIN_LIMIT="1000 per minute",
                                  STOREFRONT_CLOCK_OFFSET_SECONDS=0,
                                  # The browser sees the shop as production serves it: anonymous
                                  # catalog pages from the page cache, with their per-visitor holes.
                                  STOREFRONT_PAGE_CACHE_SECONDS=5)
    finally:
        limiter.enabled = before
    server = LiveServer(flask_app)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shop(app, live_server, browser):
    """The demo shop on a clean database (the core ``app`` fixture wipes it afterwards)."""
    current = Shop(live_server)
    current.seed()
    try:
        yield current
    finally:
        current.set_clock(0)


def _devices() -> list[str]:
    # CI splits the matrix to stay within its time budget: desktop journeys in
    # the SQLite pass, phone journeys in the PostgreSQL pass, so every journey
    # runs at both widths and on both databases once. Unset: both widths.
    wanted = [name.strip() for name in os.environ.get("STOREFRONT_E2E_DEVICES", "").split(",") if name.strip()]
    return [name for name in DEVICES if not wanted or name in wanted]


@pytest.fixture(params=_devices())
def device(request):
    return request.param


@pytest.fixture
def tab(request, browser, shop, device):
    opened: list[ShopPage] = []
    name = request.node.originalname.removeprefix("test_")

    def open_tab(which: str | None = None, *, javascript: bool = True) -> ShopPage:
        page = ShopPage(browser, shop, which or device, name, javascript=javascript)
        opened.append(page)
        return page

    yield open_tab
    try:
        report = getattr(request.node, "e2e_rep_call", None)
        if report is not None and report.passed:
            for page in opened:
                page.assert_clean()
        elif report is not None and report.failed:
            # What the browser showed when the test failed (screenshots/ is gitignored; CI can keep it).
            for n, page in enumerate(opened):
                try:
                    page.screenshot(f"FAILED-{n}")
                except Exception:  # the page may be gone; the failure itself is what matters
                    pass
    finally:
        for page in opened:
            page.close()
