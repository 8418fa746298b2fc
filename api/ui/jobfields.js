// Form fields shared by the one-off task form and the queue form: the container and
// how to run it (model.JobDefinition). Each input carries `data-field`, the path the
// API names in its 422 errors, so an error lands beside the input it is about.

import { h } from "./dom.js";

let serial = 0;

/** A labelled input: `field` is the API's path for it; `help` is shown under it. */
export function field(label, input, help) {
  serial += 1;
  input.id = input.id || `f${serial}`;
  const helpId = help ? `${input.id}-help` : null;
  if (helpId) input.setAttribute("aria-describedby", helpId);
  return h(
    "div",
    { className: "field" },
    h("label", { htmlFor: input.id }, label),
    input,
    help ? h("p", { className: "help", id: helpId }, help) : null,
  );
}

export function input(name, path, value, attrs = {}) {
  return h("input", { name, value: value ?? "", dataset: { field: path }, ...attrs });
}

export function select(name, path, options, value) {
  return h("select", { name, dataset: { field: path } },
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/** The job fields, filled from `job` (a definition or a record); `read()` gives
 *  {value, errors}: the JSON to send, and [{field, message}] for lines it could not read. */
export function jobFields(job = {}) {
  const docker = job.container?.docker || {};
  const image = input("image", "container.docker.image", docker.image ?? "alpine", { required: true });
  const network = select("network", "container.docker.network", ["BRIDGE", "HOST", "USER", "NONE"], docker.network || "BRIDGE");
  const networkName = input("networkName", "container.docker.networkName", docker.networkName);
  const forcePull = h("input", { type: "checkbox", name: "forcePullImage", checked: !!docker.forcePullImage, dataset: { field: "container.docker.forcePullImage" } });
  const cmd = h("textarea", { name: "cmd", rows: 2, required: true, dataset: { field: "cmd" }, value: job.cmd ?? "" });
  const cpus = input("cpus", "cpus", job.cpus ?? 0.1, { type: "number", step: "any", min: "0", inputMode: "decimal" });
  const mem = input("mem", "mem", job.mem ?? 32, { type: "number", step: "any", min: "0", inputMode: "decimal" });
  const volumes = h("textarea", { name: "volumes", rows: 2, dataset: { field: "container.volumes" },
    value: (job.container?.volumes || []).map((v) => `${v.hostPath}:${v.containerPath}:${v.mode}`).join("\n") });
  const env = h("textarea", { name: "env", rows: 3, dataset: { field: "env" },
    value: Object.entries(job.env || {}).filter(([k]) => !k.startsWith("HIPPO_DATA")).map(([k, v]) => `${k}=${v}`).join("\n") });
  const constraints = h("textarea", { name: "constraints", rows: 2, dataset: { field: "constraints" },
    value: (job.constraints || []).map((c) => c.join(":")).join("\n") });
  const taskRetries = input("task_retries", "task_retries", job.task_retries ?? 0, { type: "number", min: "0", step: "1" });
  const systemRetries = input("system_retries", "system_retries", job.system_retries ?? 2, { type: "number", min: "0", step: "1" });
  // Retry pacing and time limits (empty: the API's default). Sent only when filled in.
  const seconds = (name, help) => [name, input(name, name, job[name] ?? "", { type: "number", step: "any", min: "0", placeholder: "default" }), help];
  const limits = [
    seconds("retry_delay_seconds", "Wait before a retry (0: at once)."),
    seconds("retry_backoff_factor", "Each further retry waits this many times longer."),
    seconds("retry_max_delay_seconds", "The longest wait before a retry."),
    seconds("max_runtime_seconds", "A run going longer is killed (counts as a failure)."),
    seconds("max_pending_seconds", "A run not launched within this fails, not retried."),
  ];
  // Where each run's end is POSTed, and the secret signing it (shown masked once stored:
  // left empty, the form sends the mask back and the API keeps the stored secret).
  const callbackUrl = input("callback_url", "callback_url", job.callback_url ?? "", { type: "url", placeholder: "none", autocomplete: "off" });
  const secretStored = !!job.callback_secret;
  const callbackSecret = input("callback_secret", "callback_secret", "", {
    type: "password", autocomplete: "off", placeholder: secretStored ? "unchanged (a secret is stored)" : "none",
  });
  const LIMIT_LABELS = {
    retry_delay_seconds: "Retry delay (s)", retry_backoff_factor: "Retry backoff factor",
    retry_max_delay_seconds: "Longest retry delay (s)", max_runtime_seconds: "Max runtime (s)",
    max_pending_seconds: "Max pending (s)",
  };

  const node = h(
    "fieldset",
    { className: "job" },
    h("legend", {}, "What to run"),
    field("Docker image", image),
    field("Command", cmd, "Run with sh -c. A queue's item is in $HIPPO_DATA (never pasted into the command)."),
    h("div", { className: "row" }, field("CPUs", cpus), field("Memory (MB)", mem)),
    h("div", { className: "row" }, field("Network", network), field("Network name (USER only)", networkName)),
    h("label", { className: "check" }, forcePull, " Pull the image every time"),
    field("Volumes", volumes, "One per line: hostPath:containerPath:RO or RW"),
    field("Environment", env, "One per line: NAME=value"),
    field("Constraints", constraints, "One per line, Marathon style: hostname:UNIQUE, rack:LIKE:r[12], zone:MAX_PER:2"),
    h("div", { className: "row" },
      field("Retries on failure", taskRetries, "Runs again when the command fails."),
      field("Retries when lost", systemRetries, "Runs again when the cluster loses the task.")),
    h("details", { open: limits.some(([name]) => job[name] != null && job[name] !== "") },
      h("summary", {}, "Retry pacing and time limits"),
      h("div", { className: "row" }, limits.map(([name, el, help]) => field(LIMIT_LABELS[name], el, help)))),
    h("details", { open: !!job.callback_url },
      h("summary", {}, "Callback"),
      field("Callback URL", callbackUrl, "Each run's end is POSTed here as JSON."),
      field("Callback secret", callbackSecret, "Signs each callback (X-Hippo-Signature); never shown once stored.")),
  );

  function read() {
    const errors = [];
    const number = (el) => (el.value.trim() === "" ? undefined : Number(el.value));
    const value = {
      container: {
        type: "DOCKER",
        docker: { image: image.value.trim(), network: network.value, forcePullImage: forcePull.checked },
        volumes: lines(volumes.value).map((line) => {
          const parts = line.split(":");
          const mode = ["RO", "RW"].includes(parts[parts.length - 1]) ? parts.pop() : "RW";
          if (parts.length !== 2) errors.push({ field: "container.volumes", message: `"${line}" is not hostPath:containerPath[:mode]` });
          return { hostPath: parts[0] || "", containerPath: parts[1] || "", mode };
        }),
      },
      cmd: cmd.value,
      cpus: number(cpus),
      mem: number(mem),
      env: {},
      constraints: lines(constraints.value).map((line) => {
        const [name, operator, ...rest] = line.split(":");
        if (!operator) errors.push({ field: "constraints", message: `"${line}" is not field:OPERATOR[:value]` });
        return rest.length ? [name, operator || "", rest.join(":")] : [name, operator || ""];
      }),
      task_retries: number(taskRetries),
      system_retries: number(systemRetries),
    };
    if (networkName.value.trim()) value.container.docker.networkName = networkName.value.trim();
    for (const [name, el] of limits) if (el.value.trim() !== "") value[name] = Number(el.value);
    if (callbackUrl.value.trim()) value.callback_url = callbackUrl.value.trim();
    if (callbackSecret.value) value.callback_secret = callbackSecret.value;
    else if (secretStored && value.callback_url) value.callback_secret = "********";
    for (const line of lines(env.value)) {
      const at = line.indexOf("=");
      if (at < 1) errors.push({ field: "env", message: `"${line}" is not NAME=value` });
      else value.env[line.slice(0, at)] = line.slice(at + 1);
    }
    return { value, errors };
  }

  return { node, read };
}
