// The mail template editor's live preview: the wording being typed is posted (with the form's
// CSRF token) to the preview endpoint, which renders it on sample data or says where it breaks.
(function () {
  const form = document.getElementById("mail-template-form");
  if (!form) return;
  const html = document.getElementById("mail-preview-html");
  const text = document.getElementById("mail-preview-text");
  const subject = document.getElementById("mail-preview-subject");
  const error = document.getElementById("mail-preview-error");
  let timer = null;
  let sequence = 0;

  async function preview() {
    const mine = ++sequence;
    const body = new FormData(form);
    body.delete("action");
    let answer;
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        body,
        headers: { "X-CSRFToken": body.get("csrfmiddlewaretoken") },
        credentials: "same-origin",
      });
      answer = await response.json();
    } catch (e) {
      answer = { error: "The preview could not be reached: " + e };
    }
    if (mine !== sequence) return; // a newer keystroke's answer is on its way
    if (answer.error) {
      error.textContent = answer.error;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    subject.textContent = answer.subject;
    // A shadow root keeps the mail's own styles apart from the back office's. (A srcdoc
    // iframe would inherit the page's frame-ancestors 'none' and stay blank.) No script in it
    // runs: innerHTML never executes <script>, and the CSP refuses inline handlers.
    const root = html.shadowRoot || html.attachShadow({ mode: "open" });
    root.innerHTML = answer.html;
    text.textContent = answer.text;
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  });
  document.getElementById("mail-preview-button").addEventListener("click", preview);
  preview();
})();
