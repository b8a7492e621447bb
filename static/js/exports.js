// Export page: show only the options of the chosen kind. Hidden sections are disabled so
// their fields are not submitted (the server also ignores what does not apply).
(function () {
  function sync(form) {
    const kindSelect = form.querySelector("select[name=kind]");
    if (!kindSelect) return;
    const kind = kindSelect.value;
    form.querySelectorAll("[data-kinds]").forEach((element) => {
      const applies = element.dataset.kinds.split(" ").includes(kind);
      element.hidden = !applies;
      if (element.tagName === "FIELDSET") element.disabled = !applies;
      if (element.tagName === "OPTION") {
        element.disabled = !applies;
        const select = element.closest("select");
        if (!applies && select && select.value === element.value) select.value = "";
      }
    });
  }
  function init(root) {
    const form = (root || document).querySelector("#export-form");
    if (!form || form.dataset.exportsReady) return;
    form.dataset.exportsReady = "1";
    form.addEventListener("change", (event) => {
      if (event.target.name === "kind") sync(form);
    });
    sync(form);
  }
  document.addEventListener("DOMContentLoaded", () => init(document));
  document.addEventListener("htmx:afterSettle", () => init(document));
})();
