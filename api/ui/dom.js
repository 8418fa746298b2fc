// Small DOM helpers shared by the views. Every string goes in as text, never as HTML.

/** An element: h("td", {className: "state"}, "text", childNode, ...). Attributes whose
 *  name starts with "on" are event listeners; `dataset` is an object. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && name !== "list" && name !== "form") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Unix seconds as `2026-11-30 13:52:09 UTC` in the browser's zone, the zone named. */
export function when(tstamp) {
  if (!tstamp) return "";
  return new Date(tstamp * 1000).toLocaleString("sv-SE", { timeZoneName: "short" });
}

/** How long ago, in words: "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(tstamp, now = Date.now() / 1000) {
  if (!tstamp) return "";
  const s = Math.max(0, Math.round(now - tstamp));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A <time> showing the zoned time, with how long ago as its title (and the reverse
 *  when `relative`). */
export function timeNode(tstamp, { relative = false } = {}) {
  if (!tstamp) return h("span", { className: "muted" }, "never");
  const iso = new Date(tstamp * 1000).toISOString();
  return h(
    "time",
    { dateTime: iso, title: relative ? when(tstamp) : ago(tstamp) },
    relative ? ago(tstamp) : when(tstamp),
  );
}

/** The badge of a task state, coloured by its group (waiting, active, ok, bad). */
export function stateBadge(state) {
  return h("span", { className: `state state-${stateGroup(state)}`, dataset: { state } }, state);
}

export function stateGroup(state) {
  if (state === "WAITING_ON_OFFERS") return "waiting";
  if (state === "TASK_FINISHED") return "ok";
  if (state === "TASK_KILLED" || state === "TASK_KILLING") return "killed";
  if (["TASK_FAILED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
       "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"].includes(state)) return "bad";
  return "active";
}

export const TASK_STATES = [
  "WAITING_ON_OFFERS", "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
  "TASK_UNREACHABLE", "TASK_UNKNOWN", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED",
  "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
];

export function isEnded(task) {
  return task.finished_tstamp != null;
}

/** Errors the API gave for named fields, shown beside the inputs that carry
 *  `data-field` equal to the field's path (or its closest named ancestor path);
 *  returns the errors no input claimed. */
export function showFieldErrors(form, errors) {
  clearFieldErrors(form);
  const unclaimed = [];
  for (const error of errors) {
    const input = fieldFor(form, error.field);
    if (!input) {
      unclaimed.push(error);
      continue;
    }
    const id = `${input.id || input.name}-error`;
    const note = h("p", { className: "field-error", id, role: "alert" }, error.message);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    (input.closest(".field") || input.parentElement).append(note);
  }
  const first = form.querySelector("[aria-invalid=true]");
  if (first) first.focus();
  return unclaimed;
}

function fieldFor(form, path) {
  let parts = path.split(".");
  while (parts.length) {
    const key = parts.join(".");
    const input = [...form.querySelectorAll("[data-field]")].find((el) => el.dataset.field === key);
    if (input) return input;
    parts = parts.slice(0, -1);
  }
  return null;
}

export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

/** A modal confirmation (a <dialog>); resolves true when the user confirms. */
export function confirmAction(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { className: "confirm", "aria-label": question },
      h("p", {}, question),
      h(
        "form",
        { method: "dialog" },
        h("button", { value: "cancel", type: "submit" }, "Cancel"),
        " ",
        h("button", { value: "ok", type: "submit", className: "danger" }, confirmLabel),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
}
