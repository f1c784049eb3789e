// Keyboard shortcuts on the coding screen's one-answer view: 1-9 toggle a category, Enter saves.
// A static file, not inline, so that the Content-Security-Policy can refuse every inline script.
document.addEventListener("keydown", function (event) {
  if (event.target.matches("input[type=search], input[type=text], textarea, select")) return;
  var form = document.querySelector("[data-coding-form]");
  if (!form) return;
  var box = form.querySelector('input[data-key="' + event.key + '"]');
  if (box) { box.checked = !box.checked; event.preventDefault(); }
  else if (event.key === "Enter") { form.requestSubmit(); event.preventDefault(); }
});
