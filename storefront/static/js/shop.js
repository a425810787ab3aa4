// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  document.querySelectorAll("select.autosubmit").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // Disable submit buttons after the first click to avoid double submission
  // (the server is idempotent anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      // After this event the browser collects the form data; a button disabled
      // now would drop the clicked one's name=value (e.g. outcome=pay), so wait a tick.
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // A table wider than the screen scrolls sideways: keyboard users reach it with Tab
  // (only those that actually scroll, so wide screens get no extra tab stops).
  document.querySelectorAll(".table-wrap").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth && !el.hasAttribute("tabindex")) { el.tabIndex = 0; }
  });
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (ev) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });
})();
