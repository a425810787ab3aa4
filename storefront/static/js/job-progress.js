// Progress of a background job (admin/job.html). Without JavaScript the page
// refreshes itself through <meta http-equiv="refresh">; with it, this script
// removes that refresh, polls the JSON status, moves the bar and reloads the
// page once the job has finished so the full report is shown.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.getAttribute("data-finished") === "true" || !window.fetch) { return; }
  var meta = document.querySelector('meta[http-equiv="refresh"]');
  if (meta) { meta.parentNode.removeChild(meta); }
  var url = box.getAttribute("data-status-url");
  var bar = box.querySelector("progress");
  var count = box.querySelector(".job-count");
  var failures = 0;

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (status) {
        failures = 0;
        if (bar) { bar.value = status.percent; bar.textContent = status.percent + " %"; }
        if (count) { count.textContent = status.done + " / " + status.total; }
        if (status.finished) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        // A hiccup (deploy, network): slow down, and fall back to reloading.
        failures += 1;
        if (failures > 5) { window.location.reload(); return; }
        window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 1000);
}());
