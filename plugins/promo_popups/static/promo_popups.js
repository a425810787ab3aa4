/* Promo popups: shows the server-rendered popup per its trigger, once per its frequency cap.
 * Plain JavaScript, no inline code (works under script-src 'self'). Without JavaScript the
 * popup stays hidden and the page is unchanged. */
(function () {
  "use strict";
  var root = document.querySelector("[data-pp-popup]");
  if (!root || !root.querySelector) return;
  // Never interrupt checkout or payment, whatever the server decided.
  if (/\/(checkout|pay)(\/|$)/.test(window.location.pathname)) return;

  var id = root.getAttribute("data-pp-popup");
  var variant = root.getAttribute("data-pp-variant") || "a";
  var trigger = root.getAttribute("data-pp-trigger") || "load";
  var value = parseInt(root.getAttribute("data-pp-value"), 10) || 0;
  var freq = root.getAttribute("data-pp-frequency") || "always";
  var day = root.getAttribute("data-pp-day") || "";
  var beacon = root.getAttribute("data-pp-beacon");
  var dialog = root.querySelector("[role=dialog]");
  var key = "pp_f" + id;
  var previous = null;
  var shown = false;

  if (root.getAttribute("data-pp-phones") === "0" && window.matchMedia("(max-width: 600px)").matches) return;

  function store() {
    try { return freq === "session" ? window.sessionStorage : window.localStorage; } catch (e) { return null; }
  }

  function capped() {
    var s = store();
    if (!s || freq === "always") return false;
    var v = s.getItem(key);
    return freq === "day" ? v === day : v !== null;
  }

  function remember() {
    if (freq === "always") return;
    var v = freq === "day" ? day : "1";
    var cookie = key + "=" + v + "; path=/; SameSite=Lax";
    if (freq === "day") cookie += "; max-age=" + 2 * 86400;
    if (freq === "once") cookie += "; max-age=" + 400 * 86400;
    if (window.location.protocol === "https:") cookie += "; Secure";
    document.cookie = cookie;
    var s = store();
    try { if (s) s.setItem(key, v); } catch (e) { /* storage full or blocked: the cookie still caps */ }
  }

  function send(event) {
    if (!beacon) return;
    var body = new URLSearchParams();
    body.set("popup", id);
    body.set("variant", variant);
    body.set("event", event);
    if (navigator.sendBeacon) { navigator.sendBeacon(beacon, body); return; }
    if (window.fetch) window.fetch(beacon, { method: "POST", body: body, credentials: "same-origin", keepalive: true });
  }

  function focusable() {
    return Array.prototype.filter.call(
      dialog.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (el) { return el.offsetParent !== null; });
  }

  function onKey(e) {
    if (e.key === "Escape" || e.key === "Esc") { e.preventDefault(); hide("dismiss"); return; }
    if (e.key !== "Tab") return;
    var items = focusable();
    if (!items.length) { e.preventDefault(); dialog.focus(); return; }
    var first = items[0], last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || document.activeElement === dialog)) {
      e.preventDefault(); last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault(); first.focus();
    }
  }

  function show() {
    if (shown || capped()) return;
    shown = true;
    previous = document.activeElement;
    root.hidden = false;
    dialog.focus();
    document.addEventListener("keydown", onKey);
    remember();
    send("impression");
  }

  function hide(event) {
    if (root.hidden) return;
    root.hidden = true;
    document.removeEventListener("keydown", onKey);
    if (event) send(event);
    if (previous && typeof previous.focus === "function") previous.focus();
  }

  root.addEventListener("click", function (e) {
    var target = e.target;
    if (target === root || (target.closest && target.closest("[data-pp-close]"))) { hide("dismiss"); return; }
    if (target.closest && target.closest("[data-pp-cta]")) { send("click"); return; }
    // The coupons plugin's claim button (slot "popup_coupon_claim") carries data-pp-claim.
    if (target.closest && target.closest("[data-pp-claim]")) send("claim");
  });

  if (trigger === "delay") {
    window.setTimeout(show, value * 1000);
  } else if (trigger === "scroll") {
    var onScroll = function () {
      var doc = document.documentElement;
      var room = doc.scrollHeight - window.innerHeight;
      var pct = room <= 0 ? 100 : (window.scrollY / room) * 100;
      if (pct >= value) { window.removeEventListener("scroll", onScroll); show(); }
    };
    window.addEventListener("scroll", onScroll, { passive: true });
  } else if (trigger === "exit") {
    // Exit intent exists only with a mouse: the pointer leaving through the top edge.
    if (window.matchMedia("(pointer: fine)").matches) {
      var onOut = function (e) {
        if (!e.relatedTarget && e.clientY <= 0) { document.removeEventListener("mouseout", onOut); show(); }
      };
      document.addEventListener("mouseout", onOut);
    }
  } else {
    show();
  }
})();
