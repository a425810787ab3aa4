"""End-to-end harness: the shop served for real, driven by Debian's chromium through Playwright.

API (stable; used by every ``tests/e2e/test_journey_*.py``)
-----------------------------------------------------------
Fixtures (tests/e2e/conftest.py):

``shop`` -> :class:`Shop`
    A clean database seeded with the demo shop (Lumen Clothing, every plugin
    on, demo logins, presale jacket/turtleneck, coupons, pickup stores,
    carriers), served by one werkzeug server thread per session on
    127.0.0.1 with CSRF on and the shop's real Content-Security-Policy. The
    clock offset is reset to 0 before every test.

``device`` -> str
    ``"desktop"`` (1280x800) or ``"phone"`` (390x844, is_mobile, has_touch).
    A test that uses ``tab`` (or ``device``) runs once per device; pin one with
    ``@pytest.mark.parametrize("device", ["desktop"], indirect=True)``.

``tab`` -> callable ``tab(device=None, *, javascript=True) -> ShopPage``
    Opens a new browser context (its own cookies) on the session's browser;
    closed after the test. Without ``device`` the parametrised one is used.

:class:`Shop` (test thread; its DB helpers see what the server committed):
    ``base``                              "http://127.0.0.1:<port>"
    ``url(path_or_link)``                 absolute URL on the live server (an e-mailed link's host is replaced)
    ``app``                               the served Flask app
    ``ctx()``                             context manager: the served app's context (services, factories)
    ``make_buyer(**kw)``/``make_staff(**kw)`` new users (password ``tests.factories.PASSWORD``)
    ``demo_buyer``/``demo_staff``/``demo_owner`` (email, password) of the demo logins
    ``move_clock(days=0, hours=0, minutes=0, seconds=0)`` moves the shop clock forward (cumulative)
    ``set_clock(seconds)``                absolute offset; ``clock_offset`` the current one
    ``forget_caches()``                   after writing popups/coupons/plugin settings straight to the database
    ``now()``                             the shop's "now" (naive UTC, offset included)
    ``run_sweeps()``                      one sweep pass (unpaid close, auto-confirm, plugin deadlines) -> counts
    ``deliver()``                         one outbox delivery pass
    ``outbox(kind=None, to=None, order=None)`` OutboxMessage rows, oldest first
    ``links(message)``                    every URL in a message body, made absolute on the live server
    ``place_order(email, [(sku code, qty)], pay=True)`` checkout through the services -> order numbers
    ``ship(number, carrier="SF Express", tracking_number=None)`` ship as the demo staff member
    ``order(number)``/``orders_of(email)`` fresh Order rows (lines and events loaded)
    ``product(slug)``                     fresh Product row

:class:`ShopPage` (one tab; ``.page`` is the Playwright page):
    ``goto(path, status=200)``            navigate, check the status, then ``check_a11y()`` and ``check_fits()``
    ``sign_in(email, password)``          through the real login form (``shop.demo_buyer`` etc. work: ``*shop.demo_buyer``)
    ``sign_in_user(user)``                same for a factory user (password ``PASSWORD``)
    ``submit(locator_or_selector)``       click, wait for the page it leads to, then ``check_a11y()``/``check_fits()``
    ``expect_error(path)``                a 4xx from ``path`` is intended (e.g. a form answering 404): not unclean
    ``check_fits()``                      the page is no wider than the screen (no sideways scroll)
    ``screenshot(name)``                  full-page PNG into ``screenshots/<test>-<device>-<name>.png``
    ``assert_clean()``                    no CSP violations, no console/page errors, no 4xx/5xx page resources
    ``check_a11y(context=None)``          axe-core: fail on serious/critical violations (without axe: a warning
                                          locally, a failure when CI=true); ``checked_pages`` lists what was checked
    ``text()``                            the visible text of ``main``
    ``dialogs``                           messages of confirm()/alert() dialogs, which are accepted
    ``device``/``is_phone``               the tab's device

Every navigation through ``goto``/``submit`` is checked with axe; call
``check_a11y()`` yourself after a page changes without navigating (a popup
opened, a form shown). ``assert_clean()`` runs automatically when a tab is
closed at the end of a passing test, so a journey fails on any console error,
CSP violation or failed resource it caused.

The server side (``LiveServer``, ``Shop``) lives in live_shop.py.

Environment: ``STOREFRONT_CHROMIUM`` (default /usr/bin/chromium),
``STOREFRONT_AXE_JS`` (else ``.ci/node/node_modules/axe-core/axe.min.js``,
else ``node_modules/axe-core/axe.min.js``). Without chromium or playwright the
tests skip, without axe-core the accessibility checks are left out with a
warning; with ``CI=true`` either fails instead.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from .live_shop import LiveServer, Shop  # noqa: F401  (part of the harness API)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("STOREFRONT_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "screenshots"
IN_CI = os.environ.get("CI", "").lower() == "true"

DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}
# A browser's own user agent: headless chromium says "HeadlessChrome", which
# the popup statistics beacon ignores as a bot.
USER_AGENTS = {
    "desktop": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "phone": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/130.0 Mobile Safari/537.36",
}
# Raised from Playwright's 30 s: two helpers' suites share two cores in CI.
TIMEOUT_MS = 20000


def missing(reason: str):
    """Skip locally, fail in CI (where the browser and axe-core must be installed)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the end-to-end tests must run)", pytrace=False)
    pytest.skip(reason)


def axe_source() -> str | None:
    candidates = [os.environ.get("STOREFRONT_AXE_JS", ""),
                  ROOT / ".ci/node/node_modules/axe-core/axe.min.js", ROOT / "node_modules/axe-core/axe.min.js"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="utf-8")
    return None


# ---------------------------------------------------------------- the browser

class ShopPage:
    """One browser context and tab that records what would make a page unclean."""

    def __init__(self, browser, shop: Shop, device: str, test_name: str, *, javascript: bool = True):
        self.shop = shop
        self.device = device
        self.is_phone = device == "phone"
        self.test_name = test_name
        self.context = browser.new_context(user_agent=USER_AGENTS[device], java_script_enabled=javascript,
                                           locale="en-US", timezone_id="Asia/Shanghai", **DEVICES[device])
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.javascript = javascript
        self.errors: list[str] = []
        self.bad_responses: list[str] = []
        self.checked_pages: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("response", self._response)
        self.page.on("requestfailed", self._failed)
        # A data-confirm button asks window.confirm(); the buyer in these journeys says yes.
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)
        if javascript:
            # Init scripts are not subject to the page's CSP; the page's own scripts are.
            self.page.add_init_script(
                "window.__csp = []; document.addEventListener('securitypolicyviolation', "
                "function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });")

    # -- recording ----------------------------------------------------------
    def _console(self, msg):
        where = (msg.location or {}).get("url", "")
        # The browser asks for /favicon.ico by itself; the shop has none.
        if msg.type == "error" and not where.endswith("/favicon.ico"):
            # A 4xx document the test asked for on purpose (goto(status=404)) logs a console error too.
            if "the server responded with a status of" in msg.text and where in self._expected_errors:
                return
            self.errors.append(f"console: {msg.text} {where}")

    _expected_errors: set = set()

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.accept()

    def _response(self, response):
        url = response.url
        if response.status >= 400 and not url.endswith("/favicon.ico") and url not in self._expected_errors:
            self.bad_responses.append(f"{response.status} {response.request.method} {url}")

    def _failed(self, request):
        # A navigation that replaced a page still loading (or a beacon on unload) is aborted, not failed.
        failure = request.failure or ""
        if "ERR_ABORTED" in failure or request.url.endswith("/favicon.ico"):
            return
        self.errors.append(f"request failed: {request.method} {request.url} {failure}")

    # -- navigation ---------------------------------------------------------
    def expect_error(self, path: str) -> None:
        """A 4xx answer from ``path`` is what the test wants (a form answering 404/422): not unclean."""
        self._expected_errors = self._expected_errors | {self.shop.url(path)}

    def goto(self, path: str, status: int = 200, *, a11y: bool = True):
        url = self.shop.url(path)
        if status >= 400:
            self.expect_error(path)
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == status, \
            f"{path}: HTTP {response.status if response else None}, expected {status}"
        if a11y:
            self.check_a11y()
            self.check_fits()
        return response

    def submit(self, target, *, a11y: bool = True):
        """Click ``target`` (a selector or locator) and wait for the page it leads to."""
        locator = self.page.locator(target) if isinstance(target, str) else target
        with self.page.expect_navigation(wait_until="load"):
            locator.click()
        if a11y:
            self.check_a11y()
            self.check_fits()

    def sign_in(self, email: str, password: str):
        self.goto("/account/login")
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", password)
        self.submit(self.page.locator("main form:has(input[name=password]) [type=submit]"))
        assert "/account/login" not in self.page.url, f"sign-in failed for {email}: {self.text()[:300]}"

    def sign_in_user(self, user):
        from tests.factories import PASSWORD

        self.sign_in(user.email, PASSWORD)

    # -- reading ------------------------------------------------------------
    def text(self) -> str:
        return self.page.locator("main").inner_text()

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{self.device}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    # -- checks -------------------------------------------------------------
    def csp_violations(self) -> list[str]:
        if not self.javascript:
            return []
        return self.page.evaluate("window.__csp || []")

    def assert_clean(self):
        problems = [f"CSP: {v}" for v in self.csp_violations()] + self.errors + \
            [f"HTTP {r}" for r in self.bad_responses]
        assert problems == [], f"{self.page.url} is not clean:\n  " + "\n  ".join(problems)

    def check_fits(self):
        """The page is no wider than the screen (no sideways scrolling on a phone)."""
        # Against screen.width, not innerWidth: a phone browser zooms out to fit a too-wide page,
        # and innerWidth grows with it.
        width = "Math.min(window.innerWidth, screen.width)"
        wide = self.page.evaluate(f"document.documentElement.scrollWidth - {width}")
        if wide > 1:
            culprits = self.page.evaluate(
                "Array.from(document.querySelectorAll('main *, header *, footer *')).filter(e => "
                f"e.getBoundingClientRect().right > {width} + 1).slice(-5).map(e => e.outerHTML.slice(0, 120))")
            raise AssertionError(f"{self.page.url} is {wide}px wider than the {self.device} screen:\n  "
                                 + "\n  ".join(culprits))

    def check_a11y(self, context: str | None = None):
        """axe-core on the current page (or ``context``, a selector): no serious or critical violation."""
        source = _axe()
        if source is None:
            # Locally the journey still runs without the check (a warning says so); CI must have axe.
            reason = "axe-core not found (npm install --prefix .ci/node axe-core@4, or set STOREFRONT_AXE_JS)"
            if IN_CI:
                missing(reason)
            warnings.warn(f"accessibility not checked: {reason}", stacklevel=2)
            return
        if not self.javascript:
            return
        # A page whose path and element structure were already checked on this device (the same
        # template in the same state, e.g. an order page revisited) is not checked again: axe
        # takes seconds per page on a busy CI machine and the journeys revisit pages often.
        key = (self.device, re.sub(r"\d+", "N", self.page.url.split("?")[0]), self.page.evaluate(
            "Array.from(document.querySelectorAll('body *'), e => e.tagName + '.' + e.className).join(' ')"), context)
        self.checked_pages.append(self.page.url)
        if key in _checked:
            return
        # evaluate() runs through the DevTools protocol: the page's CSP does not apply to it.
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(source)
        result = self.page.evaluate(
            """async (ctx) => {
                 const r = await axe.run(ctx ? document.querySelector(ctx) : document,
                                         {resultTypes: ['violations']});
                 return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => ({id: v.id, impact: v.impact, help: v.help,
                               nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' +
                                                                  (n.failureSummary || '').split('\\n').slice(0, 3).join(' '))}));
               }""", context)
        if result:
            lines = [f"{v['impact']} {v['id']}: {v['help']}\n      " + "\n      ".join(v["nodes"]) for v in result]
            raise AssertionError(f"accessibility violations on {self.page.url} ({self.device}):\n  "
                                 + "\n  ".join(lines))
        _checked.add(key)

    def close(self):
        self.context.close()


_axe_cache: list = []
_checked: set = set()


def _axe() -> str | None:
    if not _axe_cache:
        _axe_cache.append(axe_source())
    return _axe_cache[0]
