// The queue form, built from /queuetypes/: each type's parameters with their type,
// default and help. Secrets are password inputs that keep the stored secret when left
// untouched (the API keeps a secret sent back masked).

import * as api from "./api.js";
import { clearFieldErrors, h, showFieldErrors } from "./dom.js";
import { field, input, jobFields, select } from "./jobfields.js";
import { go, links, notify } from "./nav.js";

const MASK = "********";

const INPUT_TYPES = { number: "float", checkbox: "bool", text: "str", password: "str" };

/** A queue type in either /queuetypes/ shape: ours, {type, label, parameters: [...]},
 *  or the original Hippo's, {namespace, inputs: {name: {input, label, default?}}}. */
function describeType(entry) {
  const parameters = entry.parameters ?? Object.entries(entry.inputs || {}).map(([name, e]) => ({
    name,
    type: INPUT_TYPES[e.input] || "str",
    label: e.label,
    default: e.default ?? null,
    required: !("default" in e),
    secret: e.input === "password",
  }));
  return { name: entry.type ?? entry.namespace, label: entry.label || entry.type || entry.namespace, parameters };
}

function parameterInput(namespace, parameter, stored) {
  const path = `queue.${namespace}.${parameter.name}`;
  const kind = parameter.type;
  const attrs = { required: parameter.required, autocomplete: "off" };
  if (kind === "bool") {
    const value = stored === undefined ? !!parameter.default : !!stored;
    return h("input", { type: "checkbox", name: parameter.name, checked: value, dataset: { field: path } });
  }
  if (parameter.secret) {
    const hasStored = stored !== undefined && stored !== "" && stored !== null;
    if (hasStored && stored !== MASK) {
      // A connection string with only its password masked: the rest stays editable,
      // and ******** where the password stands keeps the stored one.
      return input(parameter.name, path, stored, attrs);
    }
    return input(parameter.name, path, "", {
      ...attrs,
      type: "password",
      required: parameter.required && !hasStored,
      placeholder: hasStored ? "unchanged (a secret is stored)" : "",
      dataset: { field: path, stored: hasStored ? "yes" : "" },
    });
  }
  const value = stored ?? parameter.default ?? "";
  if (kind === "int") return input(parameter.name, path, value, { ...attrs, type: "number", step: "1", inputMode: "numeric" });
  if (kind === "float") return input(parameter.name, path, value, { ...attrs, type: "number", step: "any", inputMode: "decimal" });
  return input(parameter.name, path, value, attrs);
}

const TYPE_WORDS = { str: "text", int: "whole number", float: "number", bool: "yes or no" };

function parameterHelp(parameter) {
  const parts = [parameter.help || parameter.description || ""];
  parts.push(`${TYPE_WORDS[parameter.type] || parameter.type}${parameter.required ? ", required" : ""}`);
  if (!parameter.required && parameter.default !== null && parameter.default !== undefined && parameter.default !== "") {
    parts.push(`default ${JSON.stringify(parameter.default)}`);
  }
  if (parameter.secret) parts.push("secret: never shown; leave empty to keep the stored one");
  return parts.filter(Boolean).join(" · ");
}

function readParameter(parameter, element) {
  if (parameter.type === "bool") return element.checked;
  const text = element.value;
  if (parameter.secret && text === "" && element.dataset.stored === "yes") return MASK;
  if (text.trim() === "") return parameter.required ? undefined : parameter.default ?? undefined;
  if (parameter.type === "int" || parameter.type === "float") {
    const number = Number(text);
    return Number.isNaN(number) ? text : number;
  }
  return text;
}

export function queueFormView(queueId) {
  const editing = queueId !== null;
  const form = h("form", { className: "edit", id: "queue-form", noValidate: true });
  const node = h("section", { className: "view" },
    h("p", {}, h("a", { href: links.queues() }, "← Queues")),
    h("h2", { tabIndex: -1 }, editing ? `Edit queue ${queueId}` : "New queue"),
    form);
  let built = false;

  async function build() {
    const [{ data: types }, stored] = await Promise.all([
      api.call("GET", "/queuetypes/"),
      editing ? api.call("GET", api.path`/queues/${queueId}/`).then((r) => r.data) : Promise.resolve(null),
    ]);
    const kinds = types.map(describeType);
    const block = stored?.queue || {};
    const id = input("id", "id", queueId ?? "", { placeholder: "generated when empty", readOnly: editing, autocomplete: "off" });
    const name = input("name", "queue.name", block.name ?? "");
    const type = h("select", { name: "type", dataset: { field: "queue.type" }, disabled: editing },
      kinds.map((k) => h("option", { value: k.name, selected: k.name === block.type }, `${k.label} (${k.name})`)));
    const frequency = input("frequency_seconds", "queue.frequency_seconds", block.frequency_seconds ?? 60, { type: "number", step: "any", min: "0" });
    const maxConcurrent = input("max_concurrent", "queue.max_concurrent", block.max_concurrent ?? 10000, { type: "number", step: "1", min: "1" });
    const batchSize = input("batch_size", "queue.batch_size", block.batch_size ?? 1, { type: "number", step: "1", min: "1" });
    const separator = input("batch_separator", "queue.batch_separator", block.batch_separator ?? "|");
    const status = select("status", "queue.status", ["ENABLED", "DISABLED"], block.status || "ENABLED");
    const settings = h("fieldset", { className: "source", id: "source-settings" });
    let inputs = [];

    function showSettings() {
      const kind = kinds.find((k) => k.name === type.value);
      const values = kind.name === block.type ? block[kind.name] || {} : {};
      inputs = kind.parameters.map((p) => [p, parameterInput(kind.name, p, values[p.name])]);
      settings.replaceChildren(
        h("legend", {}, `${kind.label} settings`),
        ...inputs.map(([p, el]) => p.type === "bool"
          ? h("div", { className: "field" }, h("label", { className: "check" }, el, " ", p.label || p.name), h("p", { className: "help" }, parameterHelp(p)))
          : field(`${p.label || p.name}${p.required ? " *" : ""}`, el, parameterHelp(p))),
      );
    }
    type.addEventListener("change", showSettings);
    showSettings();
    const job = jobFields(stored || {});

    form.replaceChildren(
      h("fieldset", {}, h("legend", {}, "Queue"),
        field("Queue id", id, editing ? "A queue's id cannot change." : "Letters, digits, _ . -; tasks of this queue carry it."),
        field("Name", name),
        field("Type", type, editing ? "A queue's type cannot change: create a new queue." : null),
        editing ? null : field("Status", status),
        h("div", { className: "row" },
          field("Poll every (seconds)", frequency),
          field("Max concurrent tasks", maxConcurrent)),
        h("div", { className: "row" },
          field("Items per task", batchSize, "Items joined into one task's $HIPPO_DATA."),
          field("Batch separator", separator))),
      settings,
      job.node,
      h("div", { className: "form-actions" },
        h("button", { type: "submit", className: "primary write" }, editing ? "Save queue" : "Create queue"),
        " ", h("a", { href: links.queues(), className: "button" }, "Cancel")),
    );
    form.onsubmit = async (event) => {
      event.preventDefault();
      clearFieldErrors(form);
      const { value, errors } = job.read();
      if (errors.length) {
        showFieldErrors(form, errors);
        return;
      }
      const number = (el) => (el.value.trim() === "" ? undefined : Number(el.value));
      const sourceSettings = {};
      for (const [p, el] of inputs) {
        const v = readParameter(p, el);
        if (v !== undefined) sourceSettings[p.name] = v;
      }
      value.queue = {
        type: type.value,
        name: name.value,
        frequency_seconds: number(frequency),
        max_concurrent: number(maxConcurrent),
        batch_size: number(batchSize),
        batch_separator: separator.value,
        [type.value]: sourceSettings,
      };
      if (!editing) value.queue.status = status.value;
      if (id.value.trim()) value.id = id.value.trim();
      try {
        const { data } = editing
          ? await api.call("PUT", api.path`/queues/${queueId}/`, value)
          : await api.call("POST", "/queues/", value);
        notify(`Queue ${data.id} ${editing ? "saved" : "created"}.`);
        go(links.queues());
      } catch (error) {
        const rest = showFieldErrors(form, error.fields || []);
        notify(error.message + rest.map((e) => ` ${e.field}: ${e.message}`).join(";"), "error");
      }
    };
    built = true;
  }

  async function refresh() {
    if (!built) await build();  // built once: a refresh must not wipe what is being typed
  }

  return { node, refresh, title: editing ? `Edit ${queueId}` : "New queue" };
}
