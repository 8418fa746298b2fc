// The one-off task form: every field of a task definition; the new run's mesos id is
// shown (and linked) once the API created it.

import * as api from "./api.js";
import { clearFieldErrors, h, showFieldErrors } from "./dom.js";
import { field, input, jobFields } from "./jobfields.js";
import { links, notify } from "./nav.js";

export function taskFormView() {
  const job = jobFields({});
  const id = input("id", "id", "", { placeholder: "generated when empty", autocomplete: "off" });
  const maxConcurrent = input("max_concurrent", "max_concurrent", 10, { type: "number", min: "1", step: "1" });
  const result = h("p", { id: "created", role: "status" });
  const form = h(
    "form",
    { className: "edit", id: "task-form", noValidate: true, onsubmit: submit },
    field("Task id", id, "Letters, digits, _ . -; runs of one id share its max concurrent."),
    field("Max concurrent runs of this id", maxConcurrent),
    job.node,
    h("div", { className: "form-actions" }, h("button", { type: "submit", className: "primary write" }, "Run task")),
  );
  const node = h("section", { className: "view" }, h("h2", { tabIndex: -1 }, "Run a one-off task"), result, form);

  async function submit(event) {
    event.preventDefault();
    clearFieldErrors(form);
    const { value, errors } = job.read();
    if (id.value.trim()) value.id = id.value.trim();
    if (maxConcurrent.value.trim()) value.max_concurrent = Number(maxConcurrent.value);
    if (errors.length) {
      showFieldErrors(form, errors);
      return;
    }
    try {
      const { data } = await api.call("POST", "/tasks/", value);
      result.replaceChildren("Created ", h("a", { className: "mono", id: "created-link", href: links.task(data.mesos_id) }, data.mesos_id), ".");
      notify(`Created ${data.mesos_id}.`);
    } catch (error) {
      const rest = showFieldErrors(form, error.fields || []);
      notify(error.message + rest.map((e) => ` ${e.field}: ${e.message}`).join(";"), "error");
    }
  }

  return { node, title: "Run a task" };
}
