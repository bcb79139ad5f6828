/* The little JavaScript of the pages: instant search results, inline metadata edits through the API, and
 * copying text. Every feature works without it (the forms submit normally). */
(function () {
  "use strict";

  function csrfToken(form) {
    var input = (form || document).querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Instant search: ask /search/ for the results fragment as the user types.
  document.querySelectorAll("form[data-instant-search]").forEach(function (form) {
    var target = document.querySelector(form.dataset.instantSearch);
    var input = form.querySelector("input[name=q]");
    if (!target || !input) return;
    var timer = null, latest = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var ticket = ++latest;
        fetch("/search/?q=" + encodeURIComponent(input.value), {
          credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
        }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
          if (ticket === latest) target.innerHTML = html; // answers may arrive out of order
        });
      }, 180);
    });
  });

  // Inline metadata editor: PATCH /api/v1/metadata, then show the steward's values without a reload.
  document.querySelectorAll("form[data-metadata-form]").forEach(function (form) {
    var status = form.querySelector(".form-status");
    var section = form.closest("[data-labels]");
    var list = function (name) {
      return form.elements[name].value.split(",").map(function (s) { return s.trim(); })
        .filter(function (s, i, all) { return s && all.indexOf(s) === i; });
    };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = {
        description: form.elements.description.value,
        tags: list("tags"),
        owners: list("owners").map(function (name) { return { name: name }; }),
        classifications: list("classifications")
      };
      status.textContent = "Saving…";
      fetch("/api/v1/metadata?nodeId=" + encodeURIComponent(form.dataset.nodeId), {
        method: "PATCH", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (answer) { return { ok: r.ok, status: r.status, answer: answer }; });
      }).then(function (result) {
        if (!result.ok) {
          status.textContent = result.status === 403 ? "Not saved: you may not edit metadata here." :
            "Not saved: " + (result.answer.detail || JSON.stringify(result.answer));
          status.className = "form-status error";
          return;
        }
        var a = result.answer;
        show(section, "tags", a.tags, "steward");
        show(section, "owners", a.owners.map(function (o) { return o.name; }), "steward");
        show(section, "classifications", a.classifications, "steward");
        if (a.description) section.querySelector("[data-show=description]").textContent = a.description;
        status.textContent = "Saved.";
        status.className = "form-status ok";
      }).catch(function () {
        status.textContent = "Not saved: the server could not be reached.";
        status.className = "form-status error";
      });
    });
  });

  function show(section, name, values, source) {
    var ul = section.querySelector("[data-show=" + name + "]");
    if (!ul) return;
    ul.querySelectorAll("[data-source=" + source + "], [data-empty]").forEach(function (li) { li.remove(); });
    values.forEach(function (value) {
      var li = document.createElement("li");
      li.className = "chip chip-" + source + (String(value).toLowerCase() === "pii" ? " chip-pii" : "");
      li.dataset.source = source;
      li.textContent = value;
      ul.appendChild(li);
    });
    if (!ul.children.length) {
      var empty = document.createElement("li");
      empty.className = "hint"; empty.dataset.empty = ""; empty.textContent = "None";
      ul.appendChild(empty);
    }
  }

  // Copy buttons: data-copy="#selector" copies that element's value or text.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.copy);
      var status = button.parentElement.querySelector(".form-status");
      var text = source.value !== undefined ? source.value : source.textContent;
      var done = function () { if (status) status.textContent = "Copied to the clipboard."; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { fallback(source); done(); });
      } else { fallback(source); done(); }
    });
  });

  function fallback(source) {
    source.focus();
    source.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected for the user to copy */ }
  }
})();
