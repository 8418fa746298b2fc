// A task's page: what it runs, its data, why it waits, its history and runs, its
// output (followed while it runs), and kill / run again / delete.

import * as api from "./api.js";
import { confirmAction, h, isEnded, stateBadge, timeNode } from "./dom.js";
import { go, links, notify } from "./nav.js";
import { outputPanel } from "./output.js";

// Fields of a task record that are its run, not its definition (shared/records.py's
// TASK_RECORD_TEMPLATE, plus the fields later versions add): left out of "Definition".
const RUN_FIELDS = new Set([
  "mesos_id", "queue_id", "mesos_state", "task_retries_left", "system_retries_left",
  "agent_id", "agent_hostname", "created_tstamp", "updated_tstamp", "started_tstamp",
  "finished_tstamp", "status_message", "status_reason", "previous_mesos_id", "kill_requested",
  "pending_reason", "history", "status_tstamp", "attempt", "next_mesos_id",
  "retry_due_tstamp", "timed_out",
]);
// Definition fields the page shows by name; any other is listed as it comes.
const SHOWN_FIELDS = new Set([
  "id", "container", "cmd", "cpus", "mem", "env", "constraints", "task_retries", "system_retries",
  "max_concurrent", "retry_delay_seconds", "retry_backoff_factor", "retry_max_delay_seconds",
  "max_runtime_seconds", "max_pending_seconds", "callback_url", "callback_secret",
]);
const MAX_CHAIN = 50;

export function taskView(mesosId) {
  const heading = h("h2", { tabIndex: -1, className: "mono id" }, mesosId);
  const badge = h("span", { id: "task-state" });
  const actions = h("div", { className: "actions" });
  const summary = h("dl", { className: "facts", id: "task-facts" });
  const reason = h("p", { id: "pending-reason", className: "reason", role: "status", hidden: true });
  const history = h("ol", { className: "history", id: "task-history" });
  const chain = h("ol", { className: "chain", id: "task-chain" });
  const definition = h("dl", { className: "facts", id: "task-definition" });
  const data = h("pre", { id: "task-data", className: "data" });
  const stdout = outputPanel(mesosId, "stdout");
  const stderr = outputPanel(mesosId, "stderr");
  const node = h(
    "section",
    { className: "view task" },
    h("p", {}, h("a", { href: links.tasks() }, "← All tasks")),
    heading,
    h("div", { className: "title-row" }, badge, actions),
    reason,
    summary,
    h("h3", {}, "Output"),
    stdout.node,
    stderr.node,
    h("h3", {}, "History"),
    history,
    h("h3", {}, "Runs of this task"),
    chain,
    h("h3", {}, "Definition"),
    definition,
    h("h3", {}, "Data"),
    data,
  );

  let task = null;
  let shownActions = "";

  function fact(list, label, value) {
    if (value === undefined || value === null || value === "") return;
    list.append(h("div", {}, h("dt", {}, label), h("dd", {}, value)));
  }

  function renderSummary() {
    badge.replaceChildren(stateBadge(task.mesos_state));
    const waiting = task.mesos_state === "WAITING_ON_OFFERS";
    reason.hidden = !waiting;
    reason.replaceChildren(
      h("strong", {}, "Why it waits: "),
      task.pending_reason || "no reason reported yet (the leader gives one at its next offer round)",
    );
    summary.replaceChildren();
    fact(summary, "Task id", task.id);
    fact(summary, "Queue", task.queue_id ? h("a", { href: links.tasks(new URLSearchParams({ queue_id: task.queue_id })) }, task.queue_id) : "one-off task");
    fact(summary, "Agent", task.agent_hostname ? `${task.agent_hostname} (${task.agent_id})` : null);
    fact(summary, "Created", timeNode(task.created_tstamp));
    fact(summary, "Started", task.started_tstamp ? timeNode(task.started_tstamp) : null);
    fact(summary, "Finished", task.finished_tstamp ? timeNode(task.finished_tstamp) : null);
    fact(summary, "Message", task.status_message);
    fact(summary, "Reason", task.status_reason);
    fact(summary, "Attempt", task.attempt > 1 ? String(task.attempt) : null);
    fact(summary, "Retry due", task.retry_due_tstamp && !isEnded(task) ? timeNode(task.retry_due_tstamp) : null);
    fact(summary, "Timed out", task.timed_out ? `ended by ${task.timed_out}` : null);
    fact(summary, "Retries left", `${task.task_retries_left} for the task's own failures, ${task.system_retries_left} for the cluster's`);
    if (task.kill_requested && !isEnded(task)) fact(summary, "Kill", "requested; waiting for Mesos");
  }

  function entryItem(e) {
    const words = [e.message, e.reason && e.reason !== e.message ? e.reason : null].filter(Boolean).join(" · ");
    return h("li", {}, timeNode(e.tstamp), " ", stateBadge(e.state), words ? " " : "", words ? h("span", { className: "message" }, words) : "");
  }

  function runItem(run, index) {
    return h("li", {},
      `run ${run.attempt ?? index + 1}: `,
      run.mesos_id === task.mesos_id
        ? h("strong", { className: "mono" }, run.mesos_id, " (this run)")
        : h("a", { className: "mono", href: links.task(run.mesos_id) }, run.mesos_id),
      " ", stateBadge(run.mesos_state),
      run.finished_tstamp ? [" ended ", timeNode(run.finished_tstamp)] : "",
      run.status_message ? h("span", { className: "message" }, " ", run.status_message) : "");
  }

  async function renderHistory() {
    // GET /tasks/{id}/history/ gives the states with their times and messages and the
    // chain of retries; an API without it gets what the record's timestamps tell.
    let answer = null;
    try {
      answer = (await api.call("GET", api.path`/tasks/${mesosId}/history/`)).data;
    } catch (error) {
      if (!(error instanceof api.ApiError && error.status === 404)) throw error;
    }
    if (answer) {
      history.replaceChildren(...answer.history.map(entryItem));
      chain.replaceChildren(...answer.runs.map(runItem));
      return;
    }
    history.replaceChildren(...[
      { state: "WAITING_ON_OFFERS", tstamp: task.created_tstamp, message: "created" },
      task.started_tstamp && { state: "TASK_RUNNING", tstamp: task.started_tstamp, message: task.agent_hostname ? `on ${task.agent_hostname}` : "" },
      task.finished_tstamp && { state: task.mesos_state, tstamp: task.finished_tstamp, message: task.status_message, reason: task.status_reason },
    ].filter(Boolean).map(entryItem));
    await renderChain();
  }

  async function renderChain() {
    // Runs of one task are linked by previous_mesos_id: walk back from this run, then
    // forward through the runs of the same task id that name the last one found.
    const runs = [task];
    let previous = task.previous_mesos_id;
    while (previous && runs.length < MAX_CHAIN) {
      const { data: run } = await api.call("GET", api.path`/tasks/${previous}/`).catch(() => ({ data: null }));
      if (!run) break;
      runs.unshift(run);
      previous = run.previous_mesos_id;
    }
    const { data: siblings } = await api.call("GET", `/tasks/?${new URLSearchParams({ id: task.id, limit: "200" })}`);
    let last = task.mesos_id;
    for (let next = siblings.find((r) => r.previous_mesos_id === last); next && runs.length < MAX_CHAIN;
         next = siblings.find((r) => r.previous_mesos_id === last)) {
      runs.push(next);
      last = next.mesos_id;
    }
    chain.replaceChildren(...runs.map(runItem));
  }

  function renderDefinition() {
    definition.replaceChildren();
    const docker = task.container?.docker || {};
    fact(definition, "Image", docker.image);
    fact(definition, "Network", docker.network === "USER" ? `USER (${docker.networkName})` : docker.network);
    fact(definition, "Force pull", docker.forcePullImage ? "yes" : null);
    fact(definition, "Command", h("code", {}, task.cmd));
    fact(definition, "CPUs", task.cpus);
    fact(definition, "Memory", task.mem != null ? `${task.mem} MB` : null);
    const volumes = task.container?.volumes || [];
    fact(definition, "Volumes", volumes.length ? h("ul", {}, volumes.map((v) => h("li", { className: "mono" }, `${v.hostPath} → ${v.containerPath} (${v.mode})`))) : null);
    const env = Object.entries(task.env || {}).filter(([name]) => !name.startsWith("HIPPO_DATA"));
    fact(definition, "Environment", env.length ? h("ul", {}, env.map(([k, v]) => h("li", { className: "mono" }, `${k}=${v}`))) : null);
    const constraints = task.constraints || [];
    fact(definition, "Constraints", constraints.length ? h("ul", {}, constraints.map((c) => h("li", { className: "mono" }, JSON.stringify(c)))) : null);
    fact(definition, "Retries", `${task.task_retries ?? 0} on failure, ${task.system_retries ?? 0} when the cluster loses it`);
    fact(definition, "Max concurrent", task.max_concurrent);
    if (task.retry_delay_seconds) {
      fact(definition, "Retry delay", `${task.retry_delay_seconds} s, ×${task.retry_backoff_factor ?? 1} each retry, at most ${task.retry_max_delay_seconds ?? "∞"} s`);
    }
    fact(definition, "Max runtime", task.max_runtime_seconds != null ? `${task.max_runtime_seconds} s` : null);
    fact(definition, "Max pending", task.max_pending_seconds != null ? `${task.max_pending_seconds} s` : null);
    fact(definition, "Callback", task.callback_url ? `${task.callback_url}${task.callback_secret ? " (signed)" : ""}` : null);
    for (const [name, value] of Object.entries(task)) {
      // Fields this page does not know yet (a newer API) are still shown.
      if (RUN_FIELDS.has(name) || SHOWN_FIELDS.has(name)) continue;
      if (value === null || value === undefined) continue;
      fact(definition, name, typeof value === "object" ? JSON.stringify(value) : String(value));
    }
    const env2 = task.env || {};
    data.textContent = env2.HIPPO_DATA ?? (task.queue_id ? "(no data)" : "(a one-off task has no item data)");
  }

  function renderActions() {
    const key = JSON.stringify([isEnded(task), task.kill_requested]);
    if (key === shownActions) return;
    shownActions = key;
    actions.replaceChildren(...[
      !isEnded(task) && !task.kill_requested
        ? h("button", { type: "button", className: "write danger", onclick: kill }, "Kill")
        : null,
      h("button", { type: "button", className: "write", onclick: runAgain }, "Run again"),
      h("button", { type: "button", className: "write danger", onclick: remove }, "Delete"),
    ].filter(Boolean));
  }

  async function kill() {
    if (!(await confirmAction(`Kill ${task.mesos_id}?`, "Kill"))) return;
    try {
      await api.call("POST", api.path`/tasks/${task.mesos_id}/kill/`);
      notify(`Kill sent to ${task.mesos_id}.`);
    } catch (error) {
      notify(error.message, "error");
    }
    await refresh();
  }

  async function runAgain() {
    const note = task.callback_secret ? " (its callback secret is not copied)" : "";
    if (!(await confirmAction(`Run ${task.id} again as a new one-off task with this definition${note}?`, "Run again"))) return;
    try {
      // The API ignores the record's run fields (mesos_id, states, times) in a definition.
      // A callback secret comes masked and a new task has none stored to keep: left out.
      const { callback_secret: _masked, ...definition } = task;
      const { data: created } = await api.call("POST", "/tasks/", definition);
      notify(`Created ${created.mesos_id}.`);
      go(links.task(created.mesos_id));
    } catch (error) {
      notify(error.message, "error");
    }
  }

  async function remove() {
    if (!(await confirmAction(`Delete the record of ${task.mesos_id}? This cannot be undone.`, "Delete"))) return;
    try {
      await api.call("DELETE", api.path`/tasks/${task.mesos_id}/`);
      notify(`Deleted ${task.mesos_id}.`);
      go(links.tasks());
    } catch (error) {
      notify(error.message, "error");
    }
  }

  let historyShown = "";
  let refreshes = 0;

  async function refresh() {
    const { data: record } = await api.call("GET", api.path`/tasks/${mesosId}/`);
    task = record;
    renderSummary();
    renderActions();
    renderDefinition();
    // A retry appears after its predecessor ends: look again now and then.
    refreshes += 1;
    const historyKey = JSON.stringify([task.mesos_state, task.updated_tstamp, task.next_mesos_id, Math.floor(refreshes / 5)]);
    if (historyKey !== historyShown) {
      historyShown = historyKey;
      await renderHistory();
    }
    await Promise.all([stdout.refresh(task), stderr.refresh(task)]);
  }

  return { node, refresh, title: mesosId };
}
