// What every view uses to talk to the user and move between views.

import { $ } from "./dom.js";

/** Say something in the message line; "error" messages stay until replaced. */
export function notify(text, kind = "ok") {
  const box = $("#message");
  box.textContent = text;
  box.className = text ? kind : "";
}

/** Go to a view by its hash (`#/tasks?state=...`); re-renders when already there. */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export const links = {
  task: (mesosId) => `#/tasks/${encodeURIComponent(mesosId)}`,
  tasks: (params) => `#/tasks${params && String(params) ? "?" + params : ""}`,
  queues: () => "#/queues",
  queueEdit: (id) => `#/queues/${encodeURIComponent(id)}/edit`,
};
