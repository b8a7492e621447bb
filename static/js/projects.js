// Project pages: htmx error swaps, the new-project form, and the schema editor.
// The schema editor keeps the JSON textarea as the single source of truth: the
// per-question forms edit a parsed copy and write it back; the server validates.
// DOM is built with textContent only: question text is untrusted.
(() => {
  "use strict";

  // Form errors answer 422; swap them into forms that opt in with data-swap-errors.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const elt = event.detail.elt;
    if (event.detail.xhr.status === 422 && elt && elt.closest && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function initNewProject() {
    const box = document.getElementById("blank-questions");
    if (!box) return;
    document.querySelectorAll("input[name=template]").forEach((radio) => {
      radio.addEventListener("change", () => { if (radio.checked) box.open = radio.value === "blank"; });
    });
  }

  const TYPES = ["single_choice", "multi_choice", "rating", "pairwise", "ranking", "text", "rewrite", "spans"];
  const APPLIES = { item: "the item", each_response: "each response", pair: "the pair" };
  const COMMON = ["id", "type", "prompt", "help", "required", "applies_to", "shortcut", "condition"];
  const DEFAULTS = {
    single_choice: () => ({ options: [{ value: "yes", label: "Yes", key: "1" }, { value: "no", label: "No", key: "2" }] }),
    multi_choice: () => ({ options: [{ value: "first", label: "First", key: "1" }, { value: "second", label: "Second", key: "2" }] }),
    rating: () => ({ min: 1, max: 5, anchors: { 1: "Very poor", 3: "Acceptable", 5: "Excellent" } }),
    pairwise: () => ({ applies_to: "pair", allow_tie: true, allow_both_bad: true, strength: false }),
    ranking: () => ({ applies_to: "item" }),
    text: () => ({ required: false, max_length: 5000 }),
    rewrite: () => ({ applies_to: "each_response" }),
    spans: () => ({ applies_to: "item", target: "response", labels: [{ value: "false", label: "False claim", key: "1" }] }),
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (name === "class") node.className = value;
      else if (name in node && typeof value !== "string") node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    children.flat().forEach((child) => node.append(child instanceof Node ? child : String(child)));
    return node;
  }

  let uid = 0;
  function labelled(text, input, extraClass) {
    input.id = input.id || `qe-${++uid}`;
    return el("div", { class: `qfield ${extraClass || ""}` }, el("label", { for: input.id }, text), input);
  }

  function intOrNull(value) {
    return /^-?\d+$/.test(String(value).trim()) ? parseInt(value, 10) : null;
  }

  class SchemaEditor {
    constructor(textarea, cards, addRow, status) {
      this.textarea = textarea;
      this.cards = cards;
      this.status = status;
      this.questions = [];
      cards.hidden = false;
      addRow.hidden = false;
      addRow.querySelector("#add-question").addEventListener("click", () => {
        this.addQuestion(addRow.querySelector("#new-question-type").value);
      });
      let timer = null;
      textarea.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.load(), 400);
      });
      this.load();
    }

    load() {
      try {
        const parsed = JSON.parse(this.textarea.value || "[]");
        if (!Array.isArray(parsed)) throw new Error("the questions must be a list [ … ]");
        this.questions = parsed;
        this.showStatus("");
        this.render();
      } catch (error) {
        this.showStatus(`The JSON does not parse, so the forms are not updated: ${error.message}`);
      }
    }

    showStatus(message) {
      if (!this.status) return;
      this.status.textContent = message;
      this.status.hidden = !message;
    }

    sync() {
      this.textarea.value = JSON.stringify(this.questions, null, 2);
      document.body.dispatchEvent(new CustomEvent("questions-changed"));
    }

    changed(rerender) {
      this.sync();
      if (rerender) this.render();
    }

    addQuestion(type) {
      const taken = new Set(this.questions.map((q) => q && q.id));
      let n = this.questions.length + 1;
      while (taken.has(`question_${n}`)) n += 1;
      this.questions.push({ id: `question_${n}`, type, prompt: "New question", ...DEFAULTS[type]() });
      this.changed(true);
      const last = this.cards.lastElementChild;
      if (last) last.querySelector("input")?.focus();
    }

    render() {
      this.cards.replaceChildren(...this.questions.map((q, i) => this.card(q, i)));
    }

    card(q, index) {
      if (!q || typeof q !== "object" || Array.isArray(q)) {
        return el("fieldset", { class: "question-card has-error" },
          el("legend", {}, `${index + 1}. not a question object: fix it in the JSON`));
      }
      const card = el("fieldset", { class: "question-card", "data-question-id": q.id || `#${index + 1}` });
      const legend = el("legend", {}, `${index + 1}. ${q.id || "(no id)"} · ${q.type || "?"}`);
      const tools = el("div", { class: "question-tools" },
        this.button("↑", `Move ${q.id} up`, index === 0, () => this.move(index, -1)),
        this.button("↓", `Move ${q.id} down`, index === this.questions.length - 1, () => this.move(index, 1)),
        this.button("Remove", `Remove ${q.id}`, false, () => { this.questions.splice(index, 1); this.changed(true); }),
      );
      card.append(legend, tools);

      const id = el("input", { type: "text", value: q.id || "", class: "q-id" });
      id.addEventListener("input", () => { q.id = id.value; legend.textContent = `${index + 1}. ${q.id} · ${q.type}`; this.sync(); });
      id.addEventListener("change", () => this.render());
      const type = el("select", { class: "q-type" }, TYPES.map((t) => el("option", { value: t, selected: t === q.type }, t)));
      type.addEventListener("change", () => this.setType(q, type.value));
      const applies = el("select", { class: "q-applies" },
        Object.entries(APPLIES).map(([value, text]) => el("option", { value, selected: value === (q.applies_to || "item") }, text)));
      applies.addEventListener("change", () => { q.applies_to = applies.value; this.changed(true); });
      const required = el("input", { type: "checkbox", checked: q.required !== undefined ? !!q.required : q.type !== "text" });
      required.addEventListener("change", () => { q.required = required.checked; this.sync(); });
      const shortcut = el("input", { type: "text", value: q.shortcut || "", maxlength: "1", class: "q-shortcut" });
      shortcut.addEventListener("input", () => { this.setOrDelete(q, "shortcut", shortcut.value); this.sync(); });
      card.append(el("div", { class: "qrow" },
        labelled("Id", id), labelled("Type", type), labelled("Applies to", applies),
        labelled("Shortcut", shortcut, "narrow"), labelled("Required", required, "narrow")));

      const prompt = el("input", { type: "text", value: q.prompt || "", class: "q-prompt" });
      prompt.addEventListener("input", () => { q.prompt = prompt.value; this.sync(); });
      const help = el("textarea", { rows: 2, class: "q-help" });
      help.value = q.help || "";
      help.addEventListener("input", () => { this.setOrDelete(q, "help", help.value); this.sync(); });
      card.append(labelled("Prompt", prompt), labelled("Help (optional)", help));

      card.append(...this.typeFields(q));
      card.append(this.conditionFields(q, index));
      return card;
    }

    button(text, label, disabled, onClick) {
      const b = el("button", { type: "button", class: "secondary small", "aria-label": label, disabled });
      b.textContent = text;
      b.addEventListener("click", onClick);
      return b;
    }

    move(index, delta) {
      const [q] = this.questions.splice(index, 1);
      this.questions.splice(index + delta, 0, q);
      this.changed(true);
    }

    setOrDelete(q, key, value) {
      if (value === "" || value === null || value === undefined) delete q[key];
      else q[key] = value;
    }

    setType(q, type) {
      Object.keys(q).forEach((key) => { if (!COMMON.includes(key)) delete q[key]; });
      if (q.type === "text" && type !== "text") delete q.required;
      q.type = type;
      delete q.applies_to;
      Object.assign(q, DEFAULTS[type]());
      this.changed(true);
    }

    number(q, key, text, rerender) {
      const input = el("input", { type: "number", value: q[key] ?? "", class: `q-${key}` });
      input.addEventListener(rerender ? "change" : "input", () => {
        this.setOrDelete(q, key, intOrNull(input.value));
        this.changed(rerender);
      });
      return labelled(text, input, "narrow");
    }

    typeFields(q) {
      const parts = [];
      if (q.type === "single_choice" || q.type === "multi_choice") parts.push(this.optionList(q, "options", "Options"));
      if (q.type === "multi_choice") {
        parts.push(el("div", { class: "qrow" }, this.number(q, "min_selected", "Min selected"), this.number(q, "max_selected", "Max selected")));
      }
      if (q.type === "rating") {
        parts.push(el("div", { class: "qrow" }, this.number(q, "min", "Lowest", true), this.number(q, "max", "Highest", true)));
        const low = intOrNull(q.min ?? 1);
        const high = intOrNull(q.max ?? 5);
        if (low !== null && high !== null && high > low && high - low <= 10) {
          q.anchors = q.anchors && typeof q.anchors === "object" ? q.anchors : {};
          const anchors = el("div", { class: "anchors" }, el("div", { class: "label" }, "Anchor labels (optional per point)"));
          for (let point = low; point <= high; point += 1) {
            const input = el("input", { type: "text", value: q.anchors[point] || "", class: "q-anchor", "data-point": point });
            input.addEventListener("input", () => { this.setOrDelete(q.anchors, String(point), input.value); this.sync(); });
            anchors.append(labelled(String(point), input, "anchor"));
          }
          parts.push(anchors);
        }
      }
      if (q.type === "pairwise") {
        const flags = el("div", { class: "qrow" });
        [["allow_tie", "Allow tie"], ["allow_both_bad", "Allow both bad"], ["strength", "Ask strength (1–3)"]].forEach(([key, text]) => {
          const box = el("input", { type: "checkbox", checked: q[key] ?? key !== "strength" });
          box.addEventListener("change", () => { q[key] = box.checked; this.sync(); });
          flags.append(labelled(text, box, "narrow"));
        });
        parts.push(flags);
      }
      if (q.type === "text") parts.push(el("div", { class: "qrow" }, this.number(q, "min_length", "Min length"), this.number(q, "max_length", "Max length")));
      if (q.type === "rewrite") parts.push(this.number(q, "max_length", "Max length"));
      if (q.type === "spans") {
        const target = el("select", {}, ["response", "prompt"].map((t) => el("option", { value: t, selected: t === (q.target || "response") }, t)));
        target.addEventListener("change", () => { q.target = target.value; this.sync(); });
        parts.push(labelled("Spans over", target), this.optionList(q, "labels", "Span labels"));
      }
      return parts;
    }

    optionList(q, key, title) {
      if (!Array.isArray(q[key])) q[key] = [];
      const list = q[key];
      const rows = list.map((option, i) => {
        const row = el("div", { class: "option-row" });
        ["value", "label", "key"].forEach((part) => {
          const input = el("input", { type: "text", value: option[part] || "", placeholder: part, class: `o-${part}`, maxlength: part === "key" ? "1" : null });
          input.setAttribute("aria-label", `${title} ${i + 1} ${part}`);
          input.addEventListener("input", () => { this.setOrDelete(option, part, input.value); this.sync(); });
          row.append(input);
        });
        row.append(this.button("✕", `Remove ${title.toLowerCase()} ${i + 1}`, false, () => { list.splice(i, 1); this.changed(true); }));
        return row;
      });
      const add = this.button(`Add ${title.toLowerCase().replace(/s$/, "")}`, `Add to ${title.toLowerCase()}`, false, () => {
        list.push({ value: `option_${list.length + 1}`, label: `Option ${list.length + 1}`, key: String((list.length + 1) % 10) });
        this.changed(true);
      });
      return el("div", { class: "option-list" }, el("div", { class: "label" }, `${title} (value · label · key)`), rows, add);
    }

    conditionFields(q, index) {
      const earlier = this.questions.slice(0, index).filter((o) => o && o.id && o.applies_to !== "each_response");
      const cond = q.condition && typeof q.condition === "object" ? q.condition : null;
      const which = el("select", { class: "c-question" }, el("option", { value: "" }, "always"),
        earlier.map((o) => el("option", { value: o.id, selected: cond && cond.question === o.id }, `when ${o.id}…`)));
      which.addEventListener("change", () => {
        if (which.value) q.condition = { question: which.value, equals: "" };
        else delete q.condition;
        this.changed(true);
      });
      const row = el("div", { class: "qrow condition" }, labelled("Show", which));
      if (cond) {
        const mode = el("select", { class: "c-mode" },
          el("option", { value: "equals", selected: !("in" in cond) }, "equals"),
          el("option", { value: "in", selected: "in" in cond }, "is one of"));
        const current = "in" in cond ? (Array.isArray(cond.in) ? cond.in.join(", ") : "") : (cond.equals ?? "");
        const value = el("input", { type: "text", value: current, class: "c-value", placeholder: "answer value(s), comma separated" });
        const update = () => {
          const cast = (v) => (intOrNull(v) !== null ? intOrNull(v) : v.trim());
          const next = { question: cond.question };
          if (mode.value === "in") next.in = value.value.split(",").map((v) => v.trim()).filter(Boolean).map(cast);
          else next.equals = cast(value.value);
          q.condition = next;
          this.sync();
        };
        mode.addEventListener("change", update);
        value.addEventListener("input", update);
        row.append(labelled("Answer", mode, "narrow"), labelled("Value", value));
      }
      return row;
    }

    markErrors(names) {
      this.cards.querySelectorAll(".question-card").forEach((card) => {
        card.classList.toggle("has-error", names.has(card.dataset.questionId));
      });
    }
  }

  function initSchemaEditor() {
    const textarea = document.getElementById("questions-json");
    const cards = document.getElementById("question-cards");
    if (!textarea || !cards) return;
    const editor = new SchemaEditor(textarea, cards, document.getElementById("question-add"), document.getElementById("json-status"));
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.target.id !== "schema-preview") return;
      const names = new Set([...event.target.querySelectorAll("[data-schema-error]")].map((n) => n.dataset.schemaError));
      editor.markErrors(names);
    });
  }

  function init() {
    initNewProject();
    initSchemaEditor();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
