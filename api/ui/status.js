// The cluster view: GET /status/, what the leader sees of Mesos, and the task counts.

import * as api from "./api.js";
import { h, timeNode } from "./dom.js";
import { links } from "./nav.js";

export function statusView() {
  const facts = h("dl", { className: "facts", id: "status-facts" });
  const shared = h("p", { id: "status-reason", className: "reason", role: "status", hidden: true });
  const node = h("section", { className: "view" }, h("h2", { tabIndex: -1 }, "Cluster"), shared, facts);

  function fact(label, value, id) {
    facts.append(h("div", { dataset: { fact: id } }, h("dt", {}, label), h("dd", {}, value ?? h("span", { className: "muted" }, "unknown"))));
  }

  function count(state, value) {
    return h("a", { href: links.tasks(new URLSearchParams({ state })) }, String(value ?? 0));
  }

  async function refresh() {
    const { data: s } = await api.call("GET", "/status/");
    shared.hidden = !s.waiting_reason;
    shared.replaceChildren(h("strong", {}, "Every waiting task: "), s.waiting_reason || "");
    facts.replaceChildren();
    fact("Leader", s.leader ? h("span", {}, h("span", { className: "mono" }, s.leader.worker_id ?? ""), s.leader.since ? [" since ", timeNode(s.leader.since)] : "") : h("strong", { className: "bad" }, "no leader"), "leader");
    fact("Mesos master", s.master, "master");
    fact("Framework id", s.framework_id ? h("span", { className: "mono" }, s.framework_id) : null, "framework");
    fact("Subscribed since", s.subscribed_since ? timeNode(s.subscribed_since) : null, "subscribed");
    fact("Agents seen", s.agents_seen, "agents");
    fact("Offers seen / held", s.offers_seen != null ? `${s.offers_seen} / ${s.offers_held ?? 0}` : null, "offers");
    fact("Last offer", s.last_offer_tstamp ? timeNode(s.last_offer_tstamp, { relative: true }) : null, "last-offer");
    fact("Waiting", count("WAITING_ON_OFFERS", s.waiting), "waiting");
    fact("Staging", count("TASK_STAGING", s.staging), "staging");
    fact("Running", count("TASK_RUNNING", s.running), "running");
    fact("Last error from Mesos", s.last_mesos_error
      ? h("span", { className: "bad" }, s.last_mesos_error, s.last_mesos_error_tstamp ? [" (", timeNode(s.last_mesos_error_tstamp, { relative: true }), ")"] : "")
      : h("span", { className: "muted" }, "none"), "mesos-error");
    fact("Leader's report", s.report_tstamp ? timeNode(s.report_tstamp, { relative: true }) : null, "report");
  }

  return { node, refresh, title: "Cluster" };
}
