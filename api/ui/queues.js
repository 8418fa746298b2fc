// The queues view: each queue's type, status switch, cadence, last poll and last
// error (dimmed once a later poll worked), its tasks, and edit / delete.

import * as api from "./api.js";
import { ago, confirmAction, h, timeNode, when } from "./dom.js";
import { links, notify } from "./nav.js";

export function queuesView() {
  const body = h("tbody", { id: "queues" });
  const empty = h("p", { className: "muted", hidden: true }, "No queues yet.");
  const node = h(
    "section",
    { className: "view" },
    h("div", { className: "title-row" },
      h("h2", { tabIndex: -1 }, "Queues"),
      h("a", { className: "button write", href: "#/queues/new", id: "new-queue" }, "New queue")),
    h(
      "table",
      { className: "list queues" },
      h("caption", { className: "sr-only" }, "Queues"),
      h("thead", {}, h("tr", {},
        ["Queue", "Type", "Enabled", "Every", "Last poll", "Last error", "Active", "Waiting", "Items taken", ""]
          .map((t) => h("th", { scope: "col" }, t)))),
      body,
    ),
    empty,
  );
  const rows = new Map();

  function errorCell(block) {
    if (!block.last_error) return h("span", { className: "muted" }, "none");
    // A poll that worked after the error makes it history: shown dimmed, with its age.
    const stale = block.last_error_tstamp && block.last_run_tstamp > block.last_error_tstamp;
    return h(
      "div",
      { className: stale ? "queue-error stale" : "queue-error current" },
      h("div", { className: "error-when" },
        block.last_error_tstamp ? h("time", { title: when(block.last_error_tstamp) }, ago(block.last_error_tstamp)) : "",
        stale ? " · a later poll worked" : ""),
      h("div", { className: "error-text" }, block.last_error),
    );
  }

  function statusSwitch(queue) {
    const on = queue.queue.status === "ENABLED";
    const readOnly = document.body.dataset.access === "read";
    return h(
      "button",
      {
        type: "button",
        className: `switch ${on ? "on" : "off"}`,
        role: "switch",
        "aria-checked": on ? "true" : "false",
        "aria-label": `${queue.id} enabled`,
        disabled: readOnly,
        onclick: () => toggle(queue),
      },
      h("span", { className: "knob", "aria-hidden": "true" }),
      h("span", { className: "switch-label" }, on ? "ENABLED" : "DISABLED"),
    );
  }

  function count(value) {
    return value === undefined || value === null ? h("span", { className: "muted" }, "–") : String(value);
  }

  function render(queue) {
    let row = rows.get(queue.id);
    if (!row) {
      row = h("tr", { dataset: { queueId: queue.id } });
      rows.set(queue.id, row);
    }
    const block = queue.queue;
    const signature = JSON.stringify([queue, document.body.dataset.access, Math.floor(Date.now() / 30000)]);
    if (row.dataset.signature === signature) return row;
    row.dataset.signature = signature;
    const focused = row.contains(document.activeElement) ? document.activeElement.className.split(" ")[0] : null;
    row.replaceChildren(
      h("td", { "data-label": "Queue" },
        h("div", { className: "mono id" }, queue.id),
        block.name ? h("div", { className: "muted" }, block.name) : ""),
      h("td", { "data-label": "Type" }, block.type),
      h("td", { className: "status", "data-label": "Enabled" }, statusSwitch(queue)),
      h("td", { "data-label": "Every" }, `${block.frequency_seconds} s`),
      h("td", { "data-label": "Last poll" }, timeNode(block.last_run_tstamp, { relative: true })),
      h("td", { "data-label": "Last error" }, errorCell(block)),
      h("td", { "data-label": "Active" }, count(block.active_tasks)),
      h("td", { "data-label": "Waiting" }, count(block.waiting_tasks)),
      h("td", { "data-label": "Items taken" }, String(block.items_taken ?? 0)),
      h("td", { className: "actions", "data-label": "" },
        h("a", { className: "tasks-link", href: links.tasks(new URLSearchParams({ queue_id: queue.id })) }, "Tasks"),
        " ",
        h("a", { className: "dead-link", href: `#/queues/${encodeURIComponent(queue.id)}/deadletters` }, "Dead letters"),
        " ",
        h("a", { className: "edit button write", href: links.queueEdit(queue.id) }, "Edit"),
        " ",
        h("button", { type: "button", className: "delete write danger", onclick: () => remove(queue) }, "Delete")),
    );
    if (focused) row.querySelector("." + focused)?.focus();
    return row;
  }

  async function toggle(queue) {
    try {
      // POST, not the GET kept for SPEC.md's clients: a page must not change state on GET.
      const { data } = await api.call("POST", api.path`/queues/${queue.id}/toggle/`);
      notify(`Queue ${queue.id} is ${data.status}.`);
    } catch (error) {
      notify(error.message, "error");
    }
    await refresh();
  }

  async function remove(queue) {
    if (!(await confirmAction(`Delete queue ${queue.id}? Its source is no longer polled.`, "Delete"))) return;
    try {
      await api.call("DELETE", api.path`/queues/${queue.id}/`);
      notify(`Deleted queue ${queue.id}.`);
    } catch (error) {
      notify(error.message, "error");
    }
    await refresh();
  }

  async function refresh() {
    const { data } = await api.call("GET", "/queues/");
    data.sort((a, b) => a.id.localeCompare(b.id));
    const seen = new Set();
    data.forEach((queue, index) => {
      seen.add(queue.id);
      const row = render(queue);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    empty.hidden = data.length > 0;
  }

  return { node, refresh, title: "Queues" };
}
