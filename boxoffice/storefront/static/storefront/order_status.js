/* Order-status page (a static file: the Content-Security-Policy allows no inline script).
   Loaded in <head>, not deferred, so the "js" class is there before the first paint. */
document.documentElement.classList.add("js");

/* Copy buttons: the clipboard where the browser allows it, otherwise select the text for the
   customer to copy. Delegated, so buttons in a freshly swapped fragment work too. */
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var target = document.getElementById(button.getAttribute("data-copy"));
  if (!target) return;
  var label = button.getAttribute("data-label") || button.textContent;
  button.setAttribute("data-label", label);
  function say(text) {
    button.textContent = text;
    setTimeout(function () { button.textContent = label; }, 2000);
  }
  function select() {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    say("Selected: copy it now");
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText((target.innerText || target.textContent).trim()).then(function () { say("Copied"); }, select);
  } else {
    select();
  }
});
