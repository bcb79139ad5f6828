/* The audit trail page: the verify button posts the shown range (with the CSRF token) and shows what the server
 * found. */
(function () {
  "use strict";
  const form = document.getElementById("verify");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const output = document.getElementById("verify-result");
      output.className = "";
      output.textContent = "Verifying…";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
          },
          body: JSON.stringify({ first: Number(form.dataset.first), last: Number(form.dataset.last) }),
        });
        const result = await response.json();
        if (!response.ok) {
          output.className = "broken";
          output.textContent = result.detail || `Refused (${response.status})`;
        } else if (result.ok) {
          output.className = "ok";
          output.textContent = `Intact: ${result.count} records verified (${result.first}–${result.last}).`;
        } else {
          output.className = "broken";
          output.textContent = `Broken at record ${result.broken.sequence}: ${result.broken.reason}`;
        }
      } catch (error) {
        output.className = "broken";
        output.textContent = `Could not verify: ${error}`;
      }
    });
  }
})();
