// Keyboard shortcuts on the coding screen's one-answer view: a category's key (shown beside it: 1-9, 0,
// then letters) toggles it, Enter saves.
// A static file, not inline, so that the Content-Security-Policy can refuse every inline script.
// The page's switch turns the category keys off (WCAG 2.1.4: speech input types letters); the choice is
// kept in this browser's localStorage.
var STORED = "coding-shortcuts";
var shortcutsSwitch = document.querySelector("[data-shortcuts-switch]");
if (shortcutsSwitch) {
  try { shortcutsSwitch.checked = window.localStorage.getItem(STORED) !== "off"; } catch (e) { /* storage refused */ }
  shortcutsSwitch.addEventListener("change", function () {
    try { window.localStorage.setItem(STORED, shortcutsSwitch.checked ? "on" : "off"); } catch (e) { /* not kept */ }
  });
}

// The shortcut a key press means: the character typed, as the keyboard's labels show it (with Shift or
// Caps Lock a letter arrives in upper case: the same key). A character that cannot be a shortcut, such
// as a letter of a non-Latin layout (Cyrillic, Greek) or AZERTY's unshifted top row ("&"), means the
// key's place on a US keyboard ("KeyQ" -> "q", "Digit1" -> "1"); a Latin letter never does, so on
// AZERTY the key labelled A stays "a".
function shortcutOf(event) {
  var typed = event.key.length === 1 ? event.key.toLowerCase() : "";
  if (/^[a-z0-9]$/.test(typed)) return typed;
  var place = /^(?:Key([A-Z])|Digit([0-9]))$/.exec(event.code || "");
  return typed && place ? (place[1] || place[2]).toLowerCase() : "";
}

document.addEventListener("keydown", function (event) {
  // Ctrl/Alt/Meta with a digit belongs to the browser (switch tab), not to the coding form.
  if (event.ctrlKey || event.altKey || event.metaKey) return;
  if (event.target.matches("input:not([type]), input[type=search], input[type=text], input[type=number], textarea, select, [contenteditable]")) return;
  var form = document.querySelector("[data-coding-form]");
  if (!form) return;
  var key = shortcutOf(event);
  var box = key && (!shortcutsSwitch || shortcutsSwitch.checked) &&
    form.querySelector('input[data-key="' + CSS.escape(key) + '"]');
  if (box) {
    // A key held down repeats; it toggles once.
    if (!event.repeat) box.checked = !box.checked;
    event.preventDefault();
    return;
  }
  if (event.key !== "Enter") return;
  // Enter on a link, a button or another form's control does what that element does (Next, Apply,
  // Run auto-coding); it saves only from the page itself or from one of this form's boxes.
  var target = event.target;
  var onPage = !target.matches("a[href], button, input, select, textarea, summary, [contenteditable]");
  if (onPage || (form.contains(target) && target.matches("input[type=checkbox]"))) {
    form.requestSubmit();
    event.preventDefault();
  }
});
