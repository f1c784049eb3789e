// Polls the latest auto-coding run of the item (GET /api/v1/coding-runs/{id}/) and moves its progress
// bar. When the run ends it says so with a link to reload, and never reloads by itself: the coder may
// have ticked boxes on this page that are not saved yet.
(function () {
  "use strict";
  var box = document.querySelector("[data-run-status]");
  if (!box) return;
  var url = box.getAttribute("data-run-status");
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  var names = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };
  function finished(status) {
    text.textContent = "The run has " + (status === "succeeded" ? "finished" : "failed") + ". ";
    var link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = "Reload the page to see " + (status === "succeeded" ? "its codes" : "why");
    text.appendChild(link);
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) {
        bar.value = run.progress;
        if (run.status === "queued" || run.status === "running") {
          text.textContent = names[run.status] + " · " + run.progress + " %";
          window.setTimeout(poll, 2000);
        } else {
          finished(run.status);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
