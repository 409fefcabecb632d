/* Copy buttons of the portal overview (a static file: the Content-Security-Policy allows no
   inline script). Loaded at the end of <body>, after the buttons. */
(function () {
  // Copy buttons: the Clipboard API where allowed, else select the text so Ctrl+C / long-press works.
  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function flash(button, text) {
    button.textContent = text;
    clearTimeout(button._reset);
    button._reset = setTimeout(function () { button.textContent = "Copy"; }, 2000);
  }
  document.querySelectorAll(".copy-btn").forEach(function (button) {
    button.hidden = false;
    button.setAttribute("aria-label", "Copy " + button.dataset.label);
    button.addEventListener("click", function () {
      var value = button.previousElementSibling;
      var text = value.textContent;
      function fallback() {
        selectText(value);
        var copied = false;
        try { copied = document.execCommand("copy"); } catch (e) {}
        flash(button, copied ? "Copied" : "Selected");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { flash(button, "Copied"); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
