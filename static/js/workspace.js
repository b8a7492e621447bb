// Annotator workspace (/projects/<id>/annotate/): keyboard-first answering, autosave to the
// server and to localStorage, and a submit that survives reloads, lost connections and
// expired sessions. The server renders everything as data-* attributes
// (templates/annotations/partials/*.html); no inline script anywhere (CSP).
(function () {
  "use strict";

  const STORE = "verity:ws:";
  const AUTOSAVE_MS = 4000;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  let ws = null; // the item on screen

  // --- plumbing ----------------------------------------------------------------
  function csrfToken() {
    // Read the cookie each time: signing in again (another tab) rotates the token.
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function api(url, method, body, opts) {
    opts = opts || {};
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = Object.assign(
      { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      opts.headers || {}
    );
    // keepalive lets a save finish while the page unloads (bodies up to 64 KB).
    const keepalive = !!opts.keepalive && (payload || "").length < 60000;
    return fetch(url, { method, headers, body: payload, credentials: "same-origin", keepalive });
  }

  function readJSON(text, fallback) {
    try {
      const value = JSON.parse(text || "null");
      return value === null ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  function status(message, kind) {
    const el = $("#ws-status");
    if (!el) return;
    el.textContent = message || "";
    el.className = "ws-status" + (kind ? " " + kind : "");
  }

  function notice(message, kind) {
    const el = $("#ws-notice");
    if (!el) return;
    el.textContent = message;
    el.className = "ws-notice " + (kind || "");
    el.hidden = !message;
  }

  function hash(text) {
    let h = 0x811c9dc5; // FNV-1a, enough to tell two answer sets apart
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16);
  }

  // Python counts code points, JavaScript UTF-16 units: span offsets convert at the edge.
  const cpCount = (s) => Array.from(s).length;
  function cpToUnit(text, cp) {
    let unit = 0;
    for (let n = 0; n < cp && unit < text.length; n++) unit += text.codePointAt(unit) > 0xffff ? 2 : 1;
    return unit;
  }

  // --- fields ---------------------------------------------------------------------
  const fields = () => (ws ? $$(".q", ws.form) : []);
  const visibleFields = () => fields().filter((fs) => !fs.hidden);

  function conditionMet(fs, answers) {
    const cond = readJSON(fs.dataset.condition, null);
    if (!cond) return true;
    let value = answers[cond.question];
    if (value && typeof value === "object" && !Array.isArray(value) && "choice" in value) value = value.choice;
    if ("equals" in cond) return Array.isArray(value) ? value.includes(cond.equals) : value === cond.equals;
    const allowed = cond.in || [];
    return Array.isArray(value) ? value.some((v) => allowed.includes(v)) : allowed.includes(value);
  }

  function checkedValue(fs, name) {
    const input = $$("input", fs).find((i) => i.name === name && i.checked);
    if (!input) return null;
    return input.dataset.int ? parseInt(input.value, 10) : input.value;
  }

  function fieldValue(fs) {
    const path = fs.dataset.path;
    switch (fs.dataset.type) {
      case "single_choice":
      case "rating":
        return checkedValue(fs, path);
      case "multi_choice": {
        const values = $$("input:checked", fs).map((i) => i.value);
        return values.length ? values : null;
      }
      case "pairwise": {
        const choice = checkedValue(fs, path);
        if (!choice) return null;
        const value = { choice };
        const strength = checkedValue(fs, path + ".strength");
        if ($("[data-strength]", fs) && (choice === "a" || choice === "b") && strength) value.strength = strength;
        return value;
      }
      case "ranking":
        return fs._ranked.length ? fs._ranked.slice() : null;
      case "text":
      case "rewrite": {
        const text = $("textarea", fs).value;
        return text.trim() ? text : null;
      }
      case "spans":
        return fs._spans.map((s) => Object.assign({}, s));
    }
    return null;
  }

  function isComplete(fs) {
    const value = fieldValue(fs);
    if (value === null || (Array.isArray(value) && !value.length && fs.dataset.type !== "spans")) return false;
    if (fs.dataset.type === "pairwise" && $("[data-strength]", fs)) {
      return value.choice === "tie" || value.choice === "both_bad" || !!value.strength;
    }
    if (fs.dataset.type === "ranking") return !$$(".rank-item", fs).some((b) => !b.hidden);
    return true;
  }

  // Answers in the schema's shape; a condition sees only answers of earlier questions,
  // exactly as apps/projects/schema.py validates them.
  function collect() {
    const answers = {};
    for (const fs of fields()) {
      const met = conditionMet(fs, answers);
      fs.hidden = !met;
      if (!met) continue;
      const value = fieldValue(fs);
      if (value === null) continue;
      if (fs.dataset.response) {
        answers[fs.dataset.qid] = answers[fs.dataset.qid] || {};
        answers[fs.dataset.qid][fs.dataset.response] = value;
      } else {
        answers[fs.dataset.qid] = value;
      }
    }
    return answers;
  }

  function setChecked(fs, name, value) {
    for (const input of $$("input", fs)) {
      if (input.name === name) input.checked = String(value) === input.value;
    }
  }

  function hydrate(answers) {
    if (!answers || typeof answers !== "object") return;
    for (const fs of fields()) {
      let value = answers[fs.dataset.qid];
      if (fs.dataset.response) value = value && typeof value === "object" ? value[fs.dataset.response] : undefined;
      if (value === undefined || value === null) continue;
      const type = fs.dataset.type;
      if (type === "single_choice" || type === "rating") setChecked(fs, fs.dataset.path, value);
      else if (type === "multi_choice" && Array.isArray(value)) {
        $$("input", fs).forEach((i) => (i.checked = value.includes(i.value)));
      } else if (type === "pairwise" && value.choice) {
        setChecked(fs, fs.dataset.path, value.choice);
        if (value.strength) setChecked(fs, fs.dataset.path + ".strength", value.strength);
      } else if (type === "ranking" && Array.isArray(value)) {
        const known = $$(".rank-item", fs).map((b) => Number(b.dataset.id));
        fs._ranked = value.map(Number).filter((id) => known.includes(id));
        renderRanking(fs);
      } else if ((type === "text" || type === "rewrite") && typeof value === "string") {
        $("textarea", fs).value = value;
        if (type === "rewrite") renderDiff(fs);
      } else if (type === "spans" && Array.isArray(value)) {
        fs._spans = value.filter((s) => s && Number.isInteger(s.start) && Number.isInteger(s.end));
        renderSpans(fs);
      }
    }
    collect();
  }

  // --- focus and keys -------------------------------------------------------------------
  function activeField() {
    return ws && ws.form.querySelector(".q.active:not([hidden])");
  }

  function setActive(fs) {
    fields().forEach((f) => f.classList.toggle("active", f === fs));
  }

  function focusField(fs) {
    if (!fs) return;
    setActive(fs);
    const type = fs.dataset.type;
    let target;
    if (type === "text" || type === "rewrite") target = $("textarea", fs);
    else if (type === "spans") target = $(".span-target", fs);
    else if (type === "ranking") target = $$(".rank-item", fs).find((b) => !b.hidden) || $(".ranked button", fs);
    else target = $("input:checked", fs) || $("input", fs);
    if (target) target.focus({ preventScroll: true });
    fs.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // A required question without an answer, or span suggestions not yet kept or removed.
  const needsAttention = (fs) =>
    (fs.dataset.required === "1" && !isComplete(fs)) || (fs.dataset.type === "spans" && currentSuggestion(fs) >= 0);

  // After an answer: the next question that needs attention, else the Submit button
  // (so Enter submits, also after a text box was the last thing answered).
  function advance(from) {
    collect();
    const list = visibleFields();
    const start = Math.max(list.indexOf(from), -1);
    const ordered = list.slice(start + 1).concat(list.slice(0, start + 1));
    const next = ordered.find(needsAttention);
    if (next && next !== from) focusField(next);
    else if (!next) {
      setActive(null);
      const button = $(".ws-submit");
      if (button) button.focus({ preventScroll: true });
    }
  }

  function pick(fs, input) {
    if (input.type === "checkbox") input.checked = !input.checked;
    else input.checked = true;
    input.focus({ preventScroll: true });
    changed(fs);
    if (input.type === "radio" && isComplete(fs)) advance(fs);
    return true;
  }

  function fieldKey(fs, event) {
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const type = fs.dataset.type;
    if (["single_choice", "multi_choice", "rating", "pairwise"].includes(type)) {
      let inputs = $$("input", fs).filter((i) => !i.closest("[data-strength]"));
      if (type === "pairwise" && $("[data-strength]", fs)) {
        const choice = checkedValue(fs, fs.dataset.path);
        if (choice === "a" || choice === "b") inputs = inputs.concat($$("[data-strength] input", fs));
      }
      const input = inputs.find((i) => (i.dataset.key || "").toLowerCase() === key);
      return input ? pick(fs, input) : false;
    }
    if (type === "ranking") {
      if (key === "Backspace") {
        fs._ranked.pop();
        renderRanking(fs);
        changed(fs);
        return true;
      }
      const button = $$(".rank-item", fs).find((b) => !b.hidden && b.dataset.key === key);
      if (!button) return false;
      rank(fs, Number(button.dataset.id));
      return true;
    }
    if (type === "spans") return spansKey(fs, event, key);
    return false;
  }

  function onKey(event) {
    const dialog = $("dialog[open]");
    if (dialog) return dialogKey(event, dialog);
    if (!ws) {
      // Between items (training feedback): Enter continues to the next item.
      const next = $("[data-ws-continue]");
      if (next && event.key === "Enter" && event.target.tagName !== "BUTTON" && event.target.tagName !== "A") {
        event.preventDefault();
        next.click();
      }
      return;
    }
    const target = event.target;
    const typing = target.matches && target.matches("textarea, input[type=text]");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
      return;
    }
    if (typing) {
      if (event.key === "Escape") {
        const fs = target.closest(".q");
        target.blur();
        if (fs) {
          setActive(fs);
          fs.setAttribute("tabindex", "-1");
          fs.focus({ preventScroll: true });
        }
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const fs = activeField();
    if (fs && fieldKey(fs, event)) {
      event.preventDefault();
      return;
    }
    if (event.key === "Enter") {
      if (target.tagName === "BUTTON" || target.tagName === "A" || target.tagName === "SUMMARY") return;
      event.preventDefault();
      submit();
      return;
    }
    const jump = visibleFields().find((f) => f.dataset.shortcut && f.dataset.shortcut === event.key);
    if (jump) {
      event.preventDefault();
      focusField(jump);
      return;
    }
    const action = { s: "skip", r: "report", v: "reveal", g: "guidelines", z: "pause", "?": "shortcuts" }[event.key.toLowerCase()];
    if (action) {
      event.preventDefault();
      act(action);
    }
  }

  function act(action) {
    if (action === "submit") submit();
    else if (action === "skip" && ws) openDialog("ws-skip-dialog");
    else if (action === "report" && ws) openDialog("ws-report-dialog");
    else if (action === "shortcuts") openDialog("ws-shortcuts-dialog");
    else if (action === "pause" && ws) {
      // The break button posts through htmx; its panel swap stops this item's timers.
      const pause = $("[data-ws-pause]");
      if (pause) pause.click();
    }
    else if (action === "reveal") {
      const content = $(".ws-content.blurred");
      if (content) content.classList.remove("blurred");
    } else if (action === "guidelines") {
      if (ws) saveServer(true);
      const link = $("#ws-guidelines-link");
      if (link) window.location.assign(link.href);
    }
  }

  // --- ranking --------------------------------------------------------------------------
  function rank(fs, id) {
    if (!fs._ranked.includes(id)) fs._ranked.push(id);
    renderRanking(fs);
    changed(fs);
    if (isComplete(fs)) advance(fs);
    else focusField(fs);
  }

  function renderRanking(fs) {
    const list = $(".ranked", fs);
    list.textContent = "";
    const buttons = $$(".rank-item", fs);
    fs._ranked.forEach((id, index) => {
      const source = buttons.find((b) => Number(b.dataset.id) === id);
      const item = document.createElement("li");
      item.appendChild(document.createTextNode("Response " + (source ? source.dataset.key.toUpperCase() : id) + " "));
      [["↑", -1, "Move up"], ["↓", 1, "Move down"], ["✕", 0, "Take back"]].forEach(([text, delta, title]) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = text;
        button.title = title;
        button.addEventListener("click", () => {
          const to = index + delta;
          if (delta === 0) fs._ranked.splice(index, 1);
          else if (to >= 0 && to < fs._ranked.length) {
            [fs._ranked[index], fs._ranked[to]] = [fs._ranked[to], fs._ranked[index]];
          }
          renderRanking(fs);
          changed(fs);
        });
        item.appendChild(button);
      });
      list.appendChild(item);
    });
    buttons.forEach((b) => (b.hidden = fs._ranked.includes(Number(b.dataset.id))));
  }

  // --- rewrite: word diff against the original ----------------------------------------
  function renderDiff(fs) {
    const box = $(".diff", fs);
    const textarea = $("textarea", fs);
    if (!box || !textarea) return;
    const a = (textarea.dataset.original || "").split(/(\s+)/);
    const b = textarea.value.split(/(\s+)/);
    box.textContent = "";
    if (a.length * b.length > 4e6) {
      box.textContent = "Too long to compare word by word.";
      return;
    }
    // Longest common subsequence over words, then walk it.
    const rows = a.length + 1;
    const cols = b.length + 1;
    const table = new Uint32Array(rows * cols);
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        table[i * cols + j] =
          a[i] === b[j] ? table[(i + 1) * cols + j + 1] + 1 : Math.max(table[(i + 1) * cols + j], table[i * cols + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    let changes = 0;
    const add = (tag, text) => {
      const el = document.createElement(tag);
      el.textContent = text;
      box.appendChild(el);
    };
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) {
        box.appendChild(document.createTextNode(a[i]));
        i++;
        j++;
      } else if (j < b.length && (i === a.length || table[i * cols + j + 1] >= table[(i + 1) * cols + j])) {
        add("ins", b[j++]);
        changes++;
      } else {
        add("del", a[i++]);
        changes++;
      }
    }
    if (!changes) box.textContent = "No changes yet.";
  }

  // --- spans: offsets into the original text, never into the rendered markdown -------
  function wordBounds(text) {
    const bounds = [];
    const re = /\S+/g;
    let m;
    while ((m = re.exec(text))) bounds.push([m.index, m.index + m[0].length]);
    return bounds;
  }

  function spanTarget(fs, generation) {
    return $$(".span-target", fs).find((t) => t.dataset.generation === String(generation === undefined ? "" : generation));
  }

  function selectionIn(fs, target) {
    const selection = window.getSelection();
    if (!selection || selection.isCollapsed || !selection.rangeCount) return;
    const range = selection.getRangeAt(0);
    if (!target.contains(range.startContainer) || !target.contains(range.endContainer)) return;
    const offset = (node, off) => {
      const r = document.createRange();
      r.selectNodeContents(target);
      r.setEnd(node, off);
      return r.toString().length;
    };
    const text = target._text;
    let start = offset(range.startContainer, range.startOffset);
    let end = offset(range.endContainer, range.endOffset);
    while (start < end && /\s/.test(text[start])) start++;
    while (end > start && /\s/.test(text[end - 1])) end--;
    if (end <= start) return;
    fs._pending = { target, start, end };
    selection.removeAllRanges();
    renderSpans(fs);
  }

  function addSpan(fs, label) {
    const pending = fs._pending;
    const error = $(".field-error", fs);
    if (!pending) {
      error.textContent = "Select some text first (mouse, or arrow keys in the text), then pick a label.";
      error.hidden = false;
      return;
    }
    const text = pending.target._text;
    const span = { start: cpCount(text.slice(0, pending.start)), end: cpCount(text.slice(0, pending.end)), label };
    if (pending.target.dataset.generation) span.generation = Number(pending.target.dataset.generation);
    fs._spans.push(span);
    fs._pending = null;
    pending.target._anchor = pending.target._cursor = -1;
    error.hidden = true;
    renderSpans(fs);
    changed(fs);
  }

  function spansKey(fs, event, key) {
    const suggestion = currentSuggestion(fs);
    if (suggestion >= 0) {
      // Enter on a button (Keep, Remove, a label) presses that button instead.
      if (key === "Enter" && event.target.tagName !== "BUTTON") {
        decideSuggestion(fs, suggestion, true);
        return true;
      }
      if (key === "Delete" || key === "Backspace") {
        decideSuggestion(fs, suggestion, false);
        return true;
      }
      if (key === "ArrowDown" || key === "ArrowUp") {
        moveSuggestion(fs, key === "ArrowDown" ? 1 : -1);
        return true;
      }
    }
    const target = event.target.classList && event.target.classList.contains("span-target") ? event.target : null;
    if (target && (key === "ArrowRight" || key === "ArrowLeft")) {
      const words = target._words;
      if (!words.length) return true;
      const step = key === "ArrowRight" ? 1 : -1;
      target._cursor = target._cursor < 0 ? 0 : Math.min(Math.max(target._cursor + step, 0), words.length - 1);
      if (!event.shiftKey || target._anchor < 0) target._anchor = target._cursor;
      const first = Math.min(target._anchor, target._cursor);
      const last = Math.max(target._anchor, target._cursor);
      fs._pending = { target, start: words[first][0], end: words[last][1] };
      renderSpans(fs);
      return true;
    }
    if (key === "Delete" || key === "Backspace") {
      if (!fs._spans.length) return false;
      fs._spans.pop();
      renderSpans(fs);
      changed(fs);
      return true;
    }
    const button = $$(".span-label", fs).find((b) => (b.dataset.key || "").toLowerCase() === key);
    if (!button) return false;
    addSpan(fs, button.dataset.label);
    return true;
  }

  // --- span suggestions: personal data apps.privacy found, over the text as shown -----
  // A suggestion is a span with `suggestion: "pending"` until the annotator keeps it
  // ("confirmed") or removes it. Drafts store spans as they are, so a removed suggestion
  // stays removed after a reload; answer validation drops the extra keys on submit.
  // "Email address" reads "email address" after "suggested:"; "IP address" and "IBAN" stay.
  function piiName(span) {
    const name = String(span.pii_label || span.pii_type || "personal data");
    return /^[A-Z][a-z]/.test(name) ? name[0].toLowerCase() + name.slice(1) : name;
  }

  function pendingIndexes(fs) {
    const out = [];
    (fs._spans || []).forEach((s, i) => s.suggestion === "pending" && out.push(i));
    return out;
  }

  function currentSuggestion(fs) {
    const pending = pendingIndexes(fs);
    if (!pending.length) return -1;
    return pending.includes(fs._current) ? fs._current : pending[0];
  }

  function decideSuggestion(fs, index, keep) {
    const span = fs._spans[index];
    if (!span || span.suggestion !== "pending") return;
    if (keep) span.suggestion = "confirmed";
    else fs._spans.splice(index, 1);
    // Then the next pending one (after a removal the later indexes moved down by one).
    const pending = pendingIndexes(fs);
    const next = pending.find((i) => i >= (keep ? index + 1 : index));
    fs._current = next !== undefined ? next : pending.length ? pending[0] : -1;
    renderSpans(fs);
    changed(fs);
  }

  function moveSuggestion(fs, step) {
    const pending = pendingIndexes(fs);
    const at = pending.indexOf(currentSuggestion(fs));
    fs._current = pending[(at + step + pending.length) % pending.length];
    renderSpans(fs);
  }

  function prefillSuggestions(restored) {
    for (const fs of fields()) {
      if (fs.dataset.type !== "spans" || !fs._suggestions.length) continue;
      // A saved draft wins: what the annotator kept or removed stays that way.
      if (restored && typeof restored === "object" && Array.isArray(restored[fs.dataset.qid])) continue;
      fs._spans = fs._suggestions.map((s) => Object.assign({}, s, { suggestion: "pending" }));
      fs._current = -1;
      renderSpans(fs);
    }
  }

  function renderSpans(fs) {
    const labels = {};
    $$(".span-label", fs).forEach((b) => (labels[b.dataset.label] = { name: b.textContent.replace(/^\s*\S\s/, "").trim(), index: b.dataset.index }));
    const current = currentSuggestion(fs);
    for (const target of $$(".span-target", fs)) {
      const text = target._text;
      const generation = target.dataset.generation;
      const mine = fs._spans
        .map((s, index) => ({ s, index }))
        .filter(({ s }) => String(s.generation === undefined ? "" : s.generation) === generation)
        .map(({ s, index }) => ({
          start: cpToUnit(text, s.start),
          end: cpToUnit(text, s.end),
          label: s.label,
          index,
          pending: s.suggestion === "pending",
          tag: piiName(s),
        }));
      const pending = fs._pending && fs._pending.target === target ? fs._pending : null;
      const cuts = new Set([0, text.length]);
      mine.concat(pending ? [pending] : []).forEach((s) => {
        cuts.add(s.start);
        cuts.add(s.end);
      });
      const points = Array.from(cuts).sort((x, y) => x - y);
      target.textContent = "";
      for (let k = 0; k < points.length - 1; k++) {
        const [from, to] = [points[k], points[k + 1]];
        const piece = text.slice(from, to);
        const covering = mine.filter((s) => s.start <= from && s.end >= to);
        const selected = pending && pending.start <= from && pending.end >= to;
        if (!covering.length && !selected) {
          target.appendChild(document.createTextNode(piece));
          continue;
        }
        const mark = document.createElement("mark");
        mark.textContent = piece;
        if (covering.length) {
          const decided = covering.filter((s) => !s.pending);
          const suggested = covering.find((s) => s.pending);
          if (decided.length) mark.className = "span-mark lbl-" + ((labels[decided[0].label] || {}).index || 0);
          if (suggested) {
            // Dashed outline; the tag is CSS generated content, so it never enters the
            // text offsets that selections are measured in.
            mark.classList.add("span-suggested");
            mark.dataset.suggestion = String(suggested.index);
            if (covering.some((s) => s.index === current)) mark.classList.add("span-current");
            const ending = covering.find((s) => s.pending && s.end === to);
            if (ending) mark.dataset.tag = "suggested: " + ending.tag;
          }
          mark.title = covering
            .map((s) => (s.pending ? "Suggested: " : "") + (labels[s.label] || { name: s.label }).name)
            .join(", ");
        }
        if (selected) mark.classList.add("span-pending");
        target.appendChild(mark);
      }
    }
    const list = $(".span-list", fs);
    list.textContent = "";
    fs._spans.forEach((span, index) => {
      const target = spanTarget(fs, span.generation);
      const item = document.createElement("li");
      const text = target ? target._text : "";
      const snippet = text.slice(cpToUnit(text, span.start), cpToUnit(text, span.end));
      item.textContent = "“" + (snippet.length > 80 ? snippet.slice(0, 77) + "…" : snippet) + "” — " + (labels[span.label] || { name: span.label }).name + " ";
      const pending = span.suggestion === "pending";
      const button = (label, act, onClick) => {
        const el = document.createElement("button");
        el.type = "button";
        el.className = "link";
        el.textContent = label;
        el.dataset.act = act;
        el.addEventListener("click", () => {
          onClick();
          // The list was redrawn under the pointer: keep the keys working in this question.
          const focus = $(".span-target", fs);
          if (focus) focus.focus({ preventScroll: true });
        });
        item.appendChild(el);
        item.appendChild(document.createTextNode(" "));
      };
      if (span.suggestion) {
        item.dataset.suggestion = span.suggestion;
        if (index === current) item.classList.add("span-current");
        const tag = document.createElement("span");
        tag.className = "badge span-suggestion-tag";
        tag.textContent = (pending ? "suggested: " : "kept suggestion: ") + piiName(span);
        item.appendChild(tag);
        item.appendChild(document.createTextNode(" "));
      }
      if (pending) button("Keep", "keep", () => decideSuggestion(fs, index, true));
      button("Remove", "remove", () => {
        if (pending) return decideSuggestion(fs, index, false);
        fs._spans.splice(index, 1);
        renderSpans(fs);
        changed(fs);
      });
      list.appendChild(item);
    });
  }

  // --- drafts ----------------------------------------------------------------------------
  function activeMs() {
    if (!ws) return 0;
    return Math.round(ws.activeMs + (ws.since !== null ? performance.now() - ws.since : 0));
  }

  function saveLocal() {
    if (!ws) return;
    try {
      localStorage.setItem(STORE + ws.id, JSON.stringify({ answers: collect(), active_ms: activeMs(), saved_at: Date.now() }));
    } catch (e) {
      /* storage full or disabled: the server draft still has it */
    }
  }

  function changed(fs) {
    if (!ws) return;
    if (fs) {
      fs.classList.remove("has-error");
      const error = $(".field-error", fs);
      if (error) error.hidden = true;
    }
    ws.dirty = true;
    saveLocal();
  }

  function saveServer(keepalive) {
    if (!ws || ws.closed) return;
    const current = ws;
    current.dirty = false;
    api(current.urls.draft, "PUT", { answers: collect(), active_ms: activeMs() }, { keepalive })
      .then((response) => {
        if (!response.ok && response.status !== 409) current.dirty = true;
      })
      .catch(() => (current.dirty = true));
  }

  function pruneStore() {
    try {
      const week = 7 * 24 * 3600 * 1000;
      for (let i = localStorage.length - 1; i >= 0; i--) {
        const key = localStorage.key(i);
        if (key && key.startsWith(STORE)) {
          const saved = readJSON(localStorage.getItem(key), {});
          if (!saved.saved_at || Date.now() - saved.saved_at > week) localStorage.removeItem(key);
        }
      }
    } catch (e) {
      /* ignore */
    }
  }

  // --- submit, skip, report ------------------------------------------------------------
  function clearErrors() {
    $$(".has-error", ws.form).forEach((fs) => fs.classList.remove("has-error"));
    $$(".field-error", ws.form).forEach((el) => (el.hidden = true));
  }

  function showErrors(details) {
    let first = null;
    for (const [path, message] of Object.entries(details || {})) {
      let el = $$("[data-error-for]", ws.form).find((e) => e.dataset.errorFor === path);
      if (!el) {
        const fs = fields().find((f) => f.dataset.qid === path.split(".")[0]);
        el = fs ? $(".field-error", fs) : $$("[data-error-for]", ws.form).find((e) => e.dataset.errorFor === "answers");
      }
      if (!el) continue;
      el.textContent = message;
      el.hidden = false;
      const fs = el.closest(".q");
      if (fs) {
        fs.classList.add("has-error");
        first = first || fs;
      }
    }
    if (first) focusField(first);
  }

  function retryLater(message) {
    status(message, "warn");
    clearTimeout(ws.retryTimer);
    ws.retryDelay = Math.min((ws.retryDelay || 1000) * 2, 30000);
    ws.retryTimer = setTimeout(submit, ws.retryDelay);
  }

  function finish(message, kind, feedbackUrl) {
    try {
      localStorage.removeItem(STORE + ws.id);
    } catch (e) {
      /* ignore */
    }
    ws.closed = true;
    clearTimeout(ws.retryTimer);
    notice(message || "", kind);
    if (feedbackUrl) loadFeedback(feedbackUrl);
    else loadNext();
  }

  async function submit() {
    if (!ws || ws.submitting || ws.closed) return;
    clearErrors();
    const answers = collect();
    const undecided = visibleFields().find((fs) => fs.dataset.type === "spans" && currentSuggestion(fs) >= 0);
    if (undecided) {
      const left = pendingIndexes(undecided).length;
      const error = $(".field-error", undecided);
      error.textContent =
        "Keep or remove the " + left + " suggested span" + (left === 1 ? "" : "s") +
        " first: Enter keeps the highlighted one, Delete removes it.";
      error.hidden = false;
      undecided.classList.add("has-error");
      status("Some answers need attention (marked below).", "error");
      focusField(undecided);
      return;
    }
    saveLocal();
    ws.submitting = true;
    $(".ws-submit").disabled = true;
    status("Submitting…");
    const key = "ws-" + ws.id + "-" + hash(JSON.stringify(answers));
    let response;
    let data = null;
    try {
      response = await api(ws.urls.submit, "POST", { answers, time_spent_ms: activeMs() }, { headers: { "Idempotency-Key": key } });
      data = readJSON(await response.text(), null);
    } catch (e) {
      response = null;
    }
    ws.submitting = false;
    const button = $(".ws-submit");
    if (button) button.disabled = false;
    if (!response) {
      retryLater("No connection. Your answers stay here and are sent as soon as you are back online.");
      return;
    }
    ws.retryDelay = 0;
    const error = (data && data.error) || {};
    if (response.status === 201) {
      const late = data.outcome === "surplus" ? "warn" : data.outcome === "accepted_late" ? "ok" : "";
      finish(late ? data.message : "", late, data.training_feedback_url);
    } else if (response.status === 400 && error.code === "invalid_answers") {
      status("Some answers need attention (marked below).", "error");
      showErrors(error.details);
    } else if (response.status === 409 && error.code === "idempotency_conflict") {
      finish("This item had already been submitted with your earlier answers; those stand.", "warn");
    } else if (response.status === 409 || response.status === 404) {
      finish(error.message || "This item is no longer open for you.", "warn");
    } else if (response.status === 401 || (response.status === 403 && /csrf/i.test(error.message || ""))) {
      retryLater("You are signed out. Sign in again (in another tab): your answers stay here and are sent once you are back.");
    } else if (response.status === 429 || response.status >= 500) {
      retryLater("The server is busy; trying again shortly. Your answers stay here.");
    } else {
      status(error.message || "Submitting failed (" + response.status + ").", "error");
    }
  }

  // Training mode: the expected answer is shown before the next item (Continue loads it).
  function loadFeedback(url) {
    stopTimers();
    ws = null;
    if (window.htmx) window.htmx.ajax("GET", url, { target: "#ws-panel", swap: "innerHTML" });
    else window.location.assign(url);
  }

  function loadNext() {
    const panel = $("#ws-panel");
    stopTimers();
    ws = null;
    if (window.htmx) {
      window.htmx.ajax("POST", panel.dataset.nextUrl, { target: "#ws-panel", swap: "innerHTML", headers: { "X-CSRFToken": csrfToken() } });
    } else {
      window.location.reload();
    }
  }

  function openDialog(id) {
    const dialog = document.getElementById(id);
    if (!dialog || dialog.open) return;
    const form = $("form", dialog);
    if (form) {
      form.reset();
      const error = $("[data-dialog-error]", form);
      if (error) error.hidden = true;
    }
    dialog.showModal();
    const first = $("input, textarea, button", dialog);
    if (first) first.focus();
  }

  function dialogKey(event, dialog) {
    const typing = event.target.matches("textarea, input[type=text]");
    if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey && event.key.length === 1) {
      const input = $$("input[data-key]", dialog).find((i) => i.dataset.key === event.key);
      if (input) {
        event.preventDefault();
        input.checked = true;
        input.focus();
        if (input.dataset.other) $("input[type=text]", dialog).focus();
        return;
      }
    }
    if (event.key === "Enter" && (!typing || event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey)) {
      const form = $("form", dialog);
      if (form && event.target.tagName !== "BUTTON") {
        event.preventDefault();
        form.requestSubmit();
      }
    }
  }

  async function dialogSubmit(event) {
    event.preventDefault();
    const form = event.target;
    const dialog = form.closest("dialog");
    const error = $("[data-dialog-error]", form);
    if (!ws) return dialog.close();
    let url;
    let body;
    if (form.dataset.dialog === "skip") {
      const checked = $("input[name=reason]:checked", form);
      const reason = checked && !checked.dataset.other ? checked.value : form.elements.other.value.trim();
      url = ws.urls.skip;
      body = { reason };
    } else {
      const checked = $("input[name=category]:checked", form);
      url = ws.urls.flag;
      body = { category: checked ? checked.value : "", reason: form.elements.reason.value };
    }
    let response;
    let data = null;
    try {
      response = await api(url, "POST", body);
      data = readJSON(await response.text(), null);
    } catch (e) {
      error.textContent = "No connection. Try again when you are back online.";
      error.hidden = false;
      return;
    }
    if (response.ok || response.status === 409) {
      dialog.close();
      finish(response.ok ? "" : (data && data.error && data.error.message) || "", "warn");
    } else {
      const problem = (data && data.error) || {};
      const details = Object.values(problem.details || {});
      error.textContent = details.length ? problem.message : problem.message || "Something went wrong (" + response.status + ").";
      error.hidden = false;
    }
  }

  // --- lifecycle --------------------------------------------------------------------------
  function stopTimers() {
    if (ws) {
      clearInterval(ws.heartbeat);
      clearTimeout(ws.retryTimer);
    }
  }

  function init() {
    const section = $("#ws-item");
    stopTimers();
    ws = null;
    if (!section) return;
    ws = {
      id: section.dataset.assignment,
      urls: readJSON(section.dataset.urls, {}),
      form: $("#qform", section),
      dirty: false,
      closed: false,
      submitting: false,
      since: document.visibilityState === "visible" ? performance.now() : null,
      activeMs: 0,
    };
    for (const fs of fields()) {
      if (fs.dataset.type === "ranking") {
        fs._ranked = [];
        $$(".rank-item", fs).forEach((b) => b.addEventListener("click", () => rank(fs, Number(b.dataset.id))));
      } else if (fs.dataset.type === "spans") {
        fs._spans = [];
        fs._pending = null;
        fs._suggestions = readJSON(fs.dataset.suggestions, []);
        fs._current = -1;
        $$(".span-target", fs).forEach((target) => {
          target._text = target.textContent;
          target._words = wordBounds(target._text);
          target._cursor = target._anchor = -1;
          target.addEventListener("mouseup", () => selectionIn(fs, target));
          target.addEventListener("click", (event) => {
            const mark = event.target.closest && event.target.closest("mark[data-suggestion]");
            if (!mark) return;
            fs._current = Number(mark.dataset.suggestion);
            renderSpans(fs);
          });
        });
        $$(".span-label", fs).forEach((b) => b.addEventListener("click", () => addSpan(fs, b.dataset.label)));
      } else if (fs.dataset.type === "rewrite") {
        $("textarea", fs).addEventListener("input", () => renderDiff(fs));
      }
    }
    ws.form.addEventListener("change", (e) => changed(e.target.closest(".q")));
    ws.form.addEventListener("input", (e) => changed(e.target.closest(".q")));
    ws.form.addEventListener("focusout", () => ws && ws.dirty && saveServer(false));
    ws.form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });

    // Restore: the newer of the server draft and this browser's copy.
    const server = readJSON(section.dataset.draft, null);
    let local = null;
    try {
      local = readJSON(localStorage.getItem(STORE + ws.id), null);
    } catch (e) {
      local = null;
    }
    const useLocal = local && (!server || (local.saved_at || 0) >= (server.updated_at || 0));
    const chosen = useLocal ? local : server;
    if (chosen) {
      hydrate(chosen.answers);
      ws.activeMs = Math.max(Number(chosen.active_ms) || 0, 0);
      if (useLocal) ws.dirty = true;
      status("Your earlier answers were restored.", "ok");
    }
    prefillSuggestions(chosen ? chosen.answers : null);
    collect();

    const leaseSeconds = parseInt(section.dataset.leaseSeconds, 10) || 1800;
    ws.heartbeat = setInterval(() => {
      if (!ws || document.visibilityState !== "visible") return;
      const current = ws;
      api(current.urls.heartbeat, "POST", {})
        .then((r) => (r.status === 409 ? r.json() : null))
        .then((data) => {
          if (data && data.error && data.error.code === "lease_expired" && ws === current) status(data.error.message, "warn");
        })
        .catch(() => {});
    }, Math.max(Math.min(60, leaseSeconds / 3), 5) * 1000);

    const first = visibleFields().find(needsAttention) || visibleFields()[0];
    // The panel's elements carry no ids, so htmx's focus restoration after a swap has
    // nothing to restore to and this focus stands.
    if (first) focusField(first);
    section.dataset.ready = "1"; // keys are live from here on (tests wait for it too)
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", (event) => {
    const trigger = event.target.closest("[data-ws-action]");
    if (trigger) {
      event.preventDefault();
      act(trigger.dataset.wsAction);
    }
    if (event.target.closest("[data-dialog-cancel]")) event.target.closest("dialog").close();
  });
  document.addEventListener("focusin", (event) => {
    const fs = event.target.closest && event.target.closest(".q");
    if (fs && ws && ws.form.contains(fs)) setActive(fs);
  });
  document.addEventListener("submit", (event) => {
    if (event.target.matches(".ws-dialog-form")) dialogSubmit(event);
  });
  document.addEventListener("visibilitychange", () => {
    if (!ws) return;
    if (document.visibilityState === "hidden") {
      ws.activeMs = activeMs();
      ws.since = null;
      saveLocal();
      saveServer(true);
    } else {
      ws.since = performance.now();
    }
  });
  window.addEventListener("pagehide", () => ws && !ws.closed && (saveLocal(), saveServer(true)));
  window.addEventListener("online", () => ws && ws.retryTimer && (clearTimeout(ws.retryTimer), submit()));
  setInterval(() => ws && ws.dirty && !ws.submitting && saveServer(false), AUTOSAVE_MS);
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "ws-panel") init();
  });
  document.addEventListener("DOMContentLoaded", () => {
    pruneStore();
    init();
  });
})();
