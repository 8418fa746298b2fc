// The tasks view: newest first, filtered by state, task id and queue, a page at a time,
// refreshed in place (rows are updated, not rebuilt, so scroll and focus stay put).

import * as api from "./api.js";
import { h, isEnded, stateBadge, TASK_STATES, timeNode } from "./dom.js";
import { go, links, notify } from "./nav.js";

const PAGE_SIZE = 50;

export function tasksView(params) {
  const filters = {
    state: params.get("state") || "",
    id: params.get("id") || "",
    queue_id: params.get("queue_id") || "",
  };
  const cursor = params.get("cursor") || "";

  function apply(changes) {
    const next = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...filters, cursor: "", ...changes })) {
      if (value) next.set(name, value);
    }
    go(links.tasks(next));
  }

  const stateSelect = h(
    "select",
    { id: "filter-state", name: "state", onchange: () => apply({ state: stateSelect.value }) },
    h("option", { value: "" }, "any state"),
    TASK_STATES.map((s) => h("option", { value: s, selected: s === filters.state }, s)),
  );
  const idInput = h("input", { id: "filter-id", name: "id", value: filters.id, placeholder: "any", autocomplete: "off" });
  const queueInput = h("input", { id: "filter-queue", name: "queue_id", value: filters.queue_id, placeholder: "any", autocomplete: "off" });
  const filterForm = h(
    "form",
    {
      className: "filters",
      role: "search",
      "aria-label": "Filter tasks",
      onsubmit: (event) => {
        event.preventDefault();
        apply({ id: idInput.value.trim(), queue_id: queueInput.value.trim() });
      },
    },
    h("label", { className: "field" }, "State", stateSelect),
    h("label", { className: "field" }, "Task id", idInput),
    h("label", { className: "field" }, "Queue id", queueInput),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", onclick: () => apply({ state: "", id: "", queue_id: "" }) }, "Clear"),
  );

  const body = h("tbody", { id: "tasks" });
  const empty = h("p", { className: "muted", hidden: true }, "No tasks match.");
  const newest = h("button", { type: "button", hidden: !cursor, onclick: () => apply({}) }, "← Newest");
  const older = h("button", { type: "button", id: "older", hidden: true }, "Older →");
  const node = h(
    "section",
    { className: "view" },
    h("h2", { tabIndex: -1 }, "Tasks"),
    filterForm,
    h(
      "table",
      { className: "list tasks" },
      h("caption", { className: "sr-only" }, "Tasks, newest first"),
      h("thead", {}, h("tr", {},
        ["Mesos id", "State", "Queue", "Created", "Why waiting / last message", ""].map((t) => h("th", { scope: "col" }, t)))),
      body,
    ),
    empty,
    h("nav", { className: "pager", "aria-label": "Pages" }, newest, " ", older),
  );

  const rows = new Map();

  function rowFor(task) {
    let row = rows.get(task.mesos_id);
    if (!row) {
      row = h("tr", { dataset: { mesosId: task.mesos_id } });
      rows.set(task.mesos_id, row);
    }
    const signature = JSON.stringify([task.mesos_state, task.pending_reason, task.status_message, task.kill_requested, task.queue_id]);
    if (row.dataset.signature === signature) return row;
    row.dataset.signature = signature;
    const focusedLabel = row.contains(document.activeElement) ? document.activeElement.textContent : null;
    const waiting = task.mesos_state === "WAITING_ON_OFFERS";
    const note = waiting && task.pending_reason ? task.pending_reason : task.status_message || "";
    const actions = h("td", { className: "actions", "data-label": "" });
    if (!isEnded(task) && !task.kill_requested) {
      actions.append(h("button", { type: "button", className: "write danger", onclick: () => kill(task) }, "Kill"));
    } else if (task.kill_requested && !isEnded(task)) {
      actions.append(h("span", { className: "muted" }, "kill sent"));
    }
    row.replaceChildren(
      h("td", { className: "mono id", "data-label": "Mesos id" }, h("a", { href: links.task(task.mesos_id) }, task.mesos_id)),
      h("td", { className: "state-cell", "data-label": "State" }, stateBadge(task.mesos_state)),
      h("td", { "data-label": "Queue" }, task.queue_id
        ? h("a", { href: links.tasks(new URLSearchParams({ queue_id: task.queue_id })) }, task.queue_id) : h("span", { className: "muted" }, "one-off")),
      h("td", { "data-label": "Created" }, timeNode(task.created_tstamp)),
      h("td", { className: waiting ? "reason" : "message", "data-label": waiting ? "Why waiting" : "Message" }, note),
      actions,
    );
    if (focusedLabel) [...row.querySelectorAll("a, button")].find((el) => el.textContent === focusedLabel)?.focus();
    return row;
  }

  async function kill(task) {
    try {
      // POST, not the GET that SPEC.md's old clients use: a page must not change state on GET.
      await api.call("POST", api.path`/tasks/${task.mesos_id}/kill/`);
      notify(`Kill sent to ${task.mesos_id}.`);
    } catch (error) {
      notify(error.message, "error");
    }
    await refresh();
  }

  async function refresh() {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    if (cursor) query.set("cursor", cursor);
    const { data, response } = await api.call("GET", "/tasks/?" + query);
    const seen = new Set();
    data.forEach((task, index) => {
      seen.add(task.mesos_id);
      const row = rowFor(task);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    for (const [mesosId, row] of rows) {
      if (!seen.has(mesosId)) {
        row.remove();
        rows.delete(mesosId);
      }
    }
    empty.hidden = data.length > 0;
    const next = response.headers.get("X-Next-Cursor");
    older.hidden = !next;
    older.onclick = () => apply({ cursor: next });
  }

  return { node, refresh, title: "Tasks" };
}
