// Polls an export's status and moves the progress bar; reloads the page when the job has finished.
(function () {
  "use strict";
  var box = document.querySelector("[data-export-status]");
  if (!box) return;
  var url = box.getAttribute("data-export-status");
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        bar.value = s.progress;
        text.textContent = s.status + " · " + s.progress + " %";
        if (s.status === "queued" || s.status === "running") {
          window.setTimeout(poll, 1500);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
