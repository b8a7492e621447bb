// Import mapping form: show the column fields that the chosen shape uses (all stay in the form).
(function () {
  const FIELDS_BY_SHAPE = {
    rows: ["prompt", "prompt_id", "model", "model_name", "response"],
    multi: ["prompt", "prompt_id", "model_name", "responses", "response_models"],
    preference: ["prompt", "prompt_id", "model", "model_name", "chosen", "rejected", "preference_gold_question"],
    messages: ["messages", "prompt_id", "model", "model_name"],
  };
  const SHAPE_FIELDS = new Set(Object.values(FIELDS_BY_SHAPE).flat());

  function update(form) {
    const shape = form.querySelector("[name=shape]");
    const mode = form.querySelector("[name=item_mode]");
    const used = new Set(FIELDS_BY_SHAPE[shape ? shape.value : "rows"] || []);
    form.querySelectorAll(".mapping-field[data-field]").forEach((wrapper) => {
      const name = wrapper.dataset.field;
      let visible = true;
      if (SHAPE_FIELDS.has(name)) visible = used.has(name);
      if (name === "k") visible = mode && mode.value === "k_pairs";
      wrapper.hidden = !visible;
    });
  }

  function init() {
    const form = document.getElementById("mapping-form");
    if (!form) return;
    update(form);
    form.addEventListener("change", () => update(form));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// Item browser: the header box ticks every item on the page (the list is swapped in by htmx).
document.addEventListener("change", (event) => {
  const all = event.target.closest && event.target.closest("[data-select-all]");
  if (!all) return;
  const form = all.closest("form");
  if (form) form.querySelectorAll("input[name=item]").forEach((box) => (box.checked = all.checked));
});
