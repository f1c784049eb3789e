// Review of free text: selecting words in an answer puts them in that answer's "Words to redact" box,
// so the reviewer selects, picks a placeholder and presses Redact. Without JavaScript, type the words.
(function () {
  "use strict";
  document.addEventListener("mouseup", function () {
    var selection = window.getSelection();
    if (!selection || selection.isCollapsed) return;
    var node = selection.anchorNode;
    var quote = node && (node.nodeType === 1 ? node : node.parentElement).closest("[data-review-text]");
    if (!quote) return;
    var input = quote.parentElement.querySelector("[data-review-phrase]");
    if (input) input.value = selection.toString().trim();
  });
})();
