// A queue's dead letters (GET /queues/{id}/deadletters/): items that will not run again
// by themselves, with their data, last end and runs; run again or discard, one or all.

import * as api from "./api.js";
import { confirmAction, h, stateBadge, timeNode } from "./dom.js";
import { links, notify } from "./nav.js";

const PAGE_SIZE = 100;

export function deadLettersView(queueId) {
  const body = h("tbody", { id: "deadletters" });
  const empty = h("p", { className: "muted", hidden: true }, "No dead letters: every item ran or is running.");
  const more = h("p", { className: "muted", hidden: true }, `Showing the newest ${PAGE_SIZE}.`);
  const base = api.path`/queues/${queueId}/deadletters/`;
  const node = h(
    "section",
    { className: "view" },
    h("p", {}, h("a", { href: links.queues() }, "← Queues")),
    h("div", { className: "title-row" },
      h("h2", { tabIndex: -1 }, `Dead letters of ${queueId}`),
      h("div", { className: "actions" },
        h("button", { type: "button", className: "write", onclick: () => all("POST", "rerun/", "Run every dead letter again?", "Run all again") }, "Run all again"),
        h("button", { type: "button", className: "write danger", onclick: () => all("DELETE", "", "Discard every dead letter? Their data is gone for good.", "Discard all") }, "Discard all"))),
    h("table", { className: "list" },
      h("caption", { className: "sr-only" }, "Dead letters, newest first"),
      h("thead", {}, h("tr", {}, ["Item", "Why", "Last end", "Data", "Dead since", ""].map((t) => h("th", { scope: "col" }, t)))),
      body),
    empty,
    more,
  );

  async function act(method, path, question, label) {
    if (!(await confirmAction(question, label))) return;
    try {
      const { data } = await api.call(method, base + path);
      notify(data?.mesos_id ? `Running again as ${data.mesos_id}.` : "Done.");
    } catch (error) {
      notify(error.message, "error");
    }
    await refresh();
  }

  const all = (method, path, question, label) => act(method, path, question, label);

  function row(letter) {
    const last = (letter.runs || []).at(-1);
    const id = encodeURIComponent(letter.id);
    return h("tr", { dataset: { deadletterId: letter.id } },
      h("td", { className: "mono id", "data-label": "Item" },
        last ? h("a", { href: links.task(last.mesos_id) }, letter.id) : letter.id,
        (letter.runs || []).length ? h("div", { className: "muted" }, `${letter.runs.length} run(s)`) : ""),
      h("td", { "data-label": "Why" }, letter.cause === "undeliverable" ? "no process can receive it" : "retries spent"),
      h("td", { className: "message", "data-label": "Last end" },
        letter.mesos_state ? stateBadge(letter.mesos_state) : "", " ", letter.status_message || letter.status_reason || ""),
      h("td", { className: "message", "data-label": "Data" }, h("code", {}, (letter.data || "").slice(0, 200))),
      h("td", { "data-label": "Dead since" }, timeNode(letter.dead_tstamp)),
      h("td", { className: "actions", "data-label": "" },
        h("button", { type: "button", className: "write", onclick: () => act("POST", `${id}/rerun/`, `Run ${letter.id} again?`, "Run again") }, "Run again"),
        " ",
        h("button", { type: "button", className: "write danger", onclick: () => act("DELETE", `${id}/`, `Discard ${letter.id}? Its data is gone for good.`, "Discard") }, "Discard")));
  }

  async function refresh() {
    const { data, response } = await api.call("GET", `${base}?limit=${PAGE_SIZE}`);
    const focused = document.activeElement && body.contains(document.activeElement);
    if (!focused) body.replaceChildren(...data.map(row));
    empty.hidden = data.length > 0;
    more.hidden = !response.headers.get("X-Next-Cursor");
  }

  return { node, refresh, title: `Dead letters of ${queueId}` };
}
