// Sampling pages: show only the fields that apply to the current choice.
// An element with data-show-when="name=value|other" is shown while the form's
// input `name` has one of those values (checkboxes count as "on" when ticked).
// Without JavaScript every field stays visible and the server validates.
(() => {
  "use strict";

  function currentValue(form, name) {
    const inputs = form.querySelectorAll(`[name="${name}"]`);
    for (const input of inputs) {
      if (input.type === "radio") { if (input.checked) return input.value; continue; }
      if (input.type === "checkbox") return input.checked ? "on" : "";
      return input.value;
    }
    return "";
  }

  function refresh(form) {
    form.querySelectorAll("[data-show-when]").forEach((element) => {
      const [name, values] = element.dataset.showWhen.split("=");
      const shown = values.split("|").includes(currentValue(form, name));
      element.hidden = !shown;
    });
  }

  function init(root) {
    root.querySelectorAll("form").forEach((form) => {
      if (!form.querySelector("[data-show-when]") || form.dataset.showWhenReady) return;
      form.dataset.showWhenReady = "1";
      form.addEventListener("change", () => refresh(form));
      refresh(form);
    });
  }

  document.addEventListener("DOMContentLoaded", () => init(document));
  document.addEventListener("htmx:afterSwap", (event) => init(event.detail.target));
})();
