"""The popup's JavaScript in a real browser (Debian chromium through Playwright).

The app is served by a werkzeug server thread on 127.0.0.1 against the test
database, with CSRF on and the shop's real Content-Security-Policy. Skipped
when chromium or the playwright package is missing (``apt-get install
chromium``; ``pip install playwright``; no ``playwright install`` needed).
"""
from __future__ import annotations

import os
import threading
import time

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("STOREFRONT_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no chromium at {CHROMIUM}", allow_module_level=True)

import plugins.coupons.models  # noqa: E402,F401  (tables in the metadata before the schema is created)
from plugins.coupons import admin_services as coupons_admin  # noqa: E402
from plugins.coupons.models import Coupon, WalletCoupon  # noqa: E402
from plugins.promo_popups import services  # noqa: E402
from plugins.promo_popups.targeting import clear_cache  # noqa: E402
from storefront.extensions import db  # noqa: E402
from tests.conftest import make_app_keeping_limits  # noqa: E402
from tests.factories import PASSWORD, make_user, set_plugin_state  # noqa: E402

from .conftest import PAGE_ENDPOINTS, PAGES, _prepare, make_popup  # noqa: E402

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
# A browser's own user agent: headless chromium says "HeadlessChrome", which the beacon ignores as a bot.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
DIALOG = ".pp-overlay:not([hidden]) [role=dialog]"


@pytest.fixture(scope="session")
def live_server(_app, database_url, instance_dir):
    """The shop with both plugins, served for real on a free port of 127.0.0.1."""
    from werkzeug.serving import make_server

    flask_app = _prepare(make_app_keeping_limits(database_url, instance_dir,
                                       STOREFRONT_PLUGINS=["plugins.promo_popups", "plugins.coupons"],
                                       PROMO_POPUPS_PAGE_ENDPOINTS=PAGE_ENDPOINTS, WTF_CSRF_ENABLED=True))
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield flask_app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser(chromium_browser):
    return chromium_browser


@pytest.fixture
def shop(app, live_server):
    """Clean tables (the ``app`` fixture), both plugins on, empty caches in the served app."""
    served, base = live_server
    set_plugin_state("promo_popups")
    set_plugin_state("coupons")
    with served.app_context():
        clear_cache()
        served.extensions.pop("coupons_claimables", None)
    return base


class Page:
    """One browser tab that records console errors and CSP violations."""

    def __init__(self, browser, base, *, viewport=DESKTOP, javascript=True):
        self.base = base
        self.context = browser.new_context(viewport=viewport, user_agent=USER_AGENT, java_script_enabled=javascript)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        if javascript:
            # Playwright's init scripts are not subject to the page's CSP; the page's own scripts are.
            self.page.add_init_script(
                "window.__csp = []; document.addEventListener('securitypolicyviolation', "
                "function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });")

    def _console(self, msg):
        where = msg.location.get("url", "") if msg.location else ""
        # The shop has no /favicon.ico (the browser asks for it by itself): not the popup's concern.
        if msg.type == "error" and not where.endswith("/favicon.ico"):
            self.errors.append(f"{msg.text} {where}")

    def goto(self, path):
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.status == 200, path
        return response

    def dialog_visible(self) -> bool:
        return self.page.locator(DIALOG).count() == 1 and self.page.locator(DIALOG).is_visible()

    def wait_dialog(self):
        self.page.wait_for_selector(DIALOG, state="visible", timeout=15000)

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__csp || []")

    def assert_clean(self):
        assert self.csp_violations() == []
        assert [e for e in self.errors if "Content Security Policy" in e or "Refused" in e] == []
        assert self.errors == []

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser, shop):
    opened = []

    def open_tab(**kw):
        page = Page(browser, shop, **kw)
        opened.append(page)
        return page

    yield open_tab
    for page in opened:
        page.close()


def _stats(popup_id):
    db.session.rollback()  # end the read snapshot: see what the server committed
    db.session.expire_all()
    return services.stats([popup_id]).get((popup_id, "a"), {})


def _stats_reach(popup_id, **expected):
    """The statistics beacon is sent in the background (navigator.sendBeacon):
    the browser may still be delivering it when the test looks, so wait for
    the counts (and fail with what was seen if they never arrive)."""
    deadline = time.monotonic() + 15
    while True:
        stats = _stats(popup_id)
        if all(stats.get(name) == count for name, count in expected.items()) or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def test_on_load_focus_escape_and_focus_back(tab):
    popup = make_popup(title="Double 11", trigger="delay", trigger_value=1, pages=["home"], frequency="always",
                       cta_label="Shop the sale", cta_url="/products")
    page = tab()
    page.goto("/")
    # Give focus to a page link first: it must come back there after the popup closes.
    page.page.locator("a[href]").first.focus()
    before = page.page.evaluate("document.activeElement.outerHTML")
    page.wait_dialog()
    assert page.page.evaluate("!!document.activeElement.closest('[role=dialog]')")
    assert page.page.get_attribute(".pp-overlay [role=dialog]", "aria-modal") == "true"
    assert page.page.get_attribute(".pp-close", "aria-label") == "Close"
    # Tab stays inside the dialog (focus trap).
    for _ in range(4):
        page.page.keyboard.press("Tab")
        assert page.page.evaluate("!!document.activeElement.closest('[role=dialog]')")
    page.page.keyboard.press("Escape")
    assert not page.dialog_visible()
    assert page.page.evaluate("document.activeElement.outerHTML") == before
    page.assert_clean()
    stats = _stats_reach(popup.id, impressions=1, dismissals=1)
    assert stats.get("impressions") == 1 and stats.get("dismissals") == 1


def test_shows_at_once_on_load_and_close_button_dismisses(tab):
    make_popup(title="Now", trigger="load", pages=["home"], frequency="always")
    page = tab()
    page.goto("/")
    page.wait_dialog()
    page.page.click(".pp-close")
    assert not page.dialog_visible()
    page.assert_clean()


def test_after_n_seconds_not_before(tab):
    make_popup(title="Later", trigger="delay", trigger_value=3, pages=["home"], frequency="always")
    page = tab()
    page.goto("/")
    assert page.page.locator(".pp-overlay").get_attribute("hidden") is not None  # not yet
    layout = "JSON.stringify(Array.from(document.querySelectorAll('body > *:not(.pp-overlay)'), " \
             "e => [e.tagName, e.getBoundingClientRect().top, e.getBoundingClientRect().height]))"
    before = page.page.evaluate(layout)
    page.wait_dialog()
    assert page.page.evaluate(layout) == before  # an overlay: nothing on the page moved
    page.assert_clean()


def test_exit_intent_on_desktop(tab):
    make_popup(title="Leaving?", trigger="exit", pages=["home"], frequency="always")
    page = tab()
    page.goto("/")
    page.page.mouse.move(200, 200)
    assert not page.dialog_visible()
    # The pointer leaves the window through the top edge.
    page.page.evaluate("document.dispatchEvent(new MouseEvent('mouseout', {clientX: 200, clientY: -1, "
                       "relatedTarget: null, bubbles: true}))")
    page.wait_dialog()
    page.assert_clean()


def test_frequency_cap_holds_across_reloads(tab):
    make_popup(title="Once a visit", trigger="load", pages=["home"], frequency="session")
    page = tab()
    page.goto("/")
    page.wait_dialog()
    page.page.keyboard.press("Escape")
    for _ in range(2):
        page.goto("/")
        assert page.page.locator("[data-pp-popup]").count() == 0  # the server no longer renders it
        assert not page.dialog_visible()
    # A new browser session (a new context) sees it again.
    other = tab()
    other.goto("/")
    other.wait_dialog()
    page.assert_clean()


def test_every_page_view_shows_again(tab):
    make_popup(title="Always", trigger="load", pages=["home"], frequency="always")
    page = tab()
    for _ in range(2):
        page.goto("/")
        page.wait_dialog()
        page.page.keyboard.press("Escape")


def test_claim_button_claims_the_coupon(tab):
    coupon = coupons_admin.create_coupon({"name": "¥10 off", "kind": "fixed", "amount": 1000, "code": "D11-10",
                                          "claimable": True, "claim_quota": 100, "per_buyer_limit": 1})
    popup = make_popup(title="Claim ten", trigger="load", pages=["home"], frequency="always", coupon_code="D11-10")
    buyer = make_user()
    page = tab()
    page.goto("/account/login")
    page.page.fill("input[name=email]", buyer.email)
    page.page.fill("input[name=password]", PASSWORD)
    page.page.locator("form:has(input[name=password]) [type=submit]").click()
    page.page.wait_for_load_state("load")
    page.goto("/")
    page.wait_dialog()
    with page.page.expect_navigation():
        page.page.click("[data-pp-claim]")
    db.session.rollback()  # end the read snapshot: see what the server committed
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).claimed == 1
    assert db.session.query(WalletCoupon).filter_by(user_id=buyer.id, coupon_id=coupon.id).count() == 1
    page.assert_clean()
    assert _stats_reach(popup.id, claims=1).get("claims") == 1


def test_phone_width_is_readable(tab):
    make_popup(title="On the phone", body="<p>" + "Big sale on every coat. " * 12 + "</p>", trigger="load",
               pages=["home"], frequency="always", cta_label="Shop", cta_url="/products")
    page = tab(viewport=PHONE)
    page.goto("/")
    page.wait_dialog()
    box = page.page.locator(DIALOG).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"] + 0.5
    assert page.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    size = page.page.evaluate("parseFloat(getComputedStyle(document.querySelector('.pp-body')).fontSize)")
    assert size >= 14
    close = page.page.locator(".pp-close").bounding_box()
    assert close["width"] >= 40 and close["height"] >= 40  # a thumb-sized target
    page.assert_clean()


def test_checkout_pages_never_show_it(tab):
    make_popup(title="Everywhere", trigger="load", pages=["all"], frequency="always")
    page = tab()
    page.goto(PAGES["other"])
    page.wait_dialog()
    for path in (PAGES["checkout"], PAGES["pay"]):
        page.goto(path)
        assert page.page.locator("[data-pp-popup]").count() == 0
        assert not page.dialog_visible()
    page.assert_clean()


def test_without_javascript_the_page_works_and_no_popup(tab):
    make_popup(title="Scripted", trigger="load", pages=["home"], frequency="always")
    page = tab(javascript=False)
    page.goto("/")
    assert page.page.locator(".pp-overlay").count() == 1
    assert not page.page.locator(".pp-overlay").is_visible()
    assert page.page.locator("main, body").first.is_visible()
    assert page.page.locator("a[href]").count() > 0


def test_uploaded_image_loads_under_the_csp(tab):
    import io

    from flask import url_for
    from PIL import Image

    from storefront.catalog.images import store_upload

    out = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 120, 200)).save(out, "PNG")
    stored = store_upload(out.getvalue())
    from flask import current_app

    with current_app.test_request_context():
        src = url_for("catalog.image", filename=stored.filename)
    make_popup(title="Pictured", trigger="load", pages=["home"], frequency="always", image_url=src,
               image_alt="Blue", body='<p><img src="%s" alt="inline"></p>' % src)
    page = tab()
    page.goto("/")
    page.wait_dialog()
    widths = page.page.evaluate("Array.from(document.querySelectorAll('.pp-dialog img'), i => i.naturalWidth)")
    assert widths == [60, 60]
    page.assert_clean()
