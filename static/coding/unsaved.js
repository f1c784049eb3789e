// The coding screen asks before leaving with boxes ticked or unticked and not saved: Next, Apply, or
// another answer's Save in the table view (each answer is its own form) reloaded the page and dropped
// them without a word. Saving the form that holds the changes leaves without asking.
// A static file, not inline, so that the Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";
  var submitted = null;
  function changed(form) {
    return Array.prototype.some.call(form.querySelectorAll("input[type=checkbox][name=codes]"), function (box) {
      return box.checked !== box.defaultChecked;
    });
  }
  document.addEventListener("submit", function (event) { submitted = event.target; });
  window.addEventListener("beforeunload", function (event) {
    var forms = document.querySelectorAll("form[data-coding-form], form.adjudication");
    var unsaved = Array.prototype.some.call(forms, function (form) { return form !== submitted && changed(form); });
    submitted = null;  // "Stay on this page": the next way out is asked about again
    if (unsaved) {
      event.preventDefault();
      event.returnValue = "";  // older browsers show the question only with a return value
    }
  });
})();
