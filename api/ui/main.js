// The page's frame: the router (views live in the URL's hash, filters included, so
// a reload or the back button keeps them), the live refresh, messages, and the token.

import * as api from "./api.js";
import { deadLettersView } from "./deadletters.js";
import { $ } from "./dom.js";
import { notify } from "./nav.js";
import { queueFormView } from "./queueform.js";
import { queuesView } from "./queues.js";
import { statusView } from "./status.js";
import { taskView } from "./task.js";
import { taskFormView } from "./taskform.js";
import { tasksView } from "./tasks.js";

const REFRESH_MS = 2000;


function parse(hash) {
  const [pathPart, query = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function pick({ parts, params }) {
  const [first, second, third] = parts;
  if (first === "queues" && second === "new") return ["queues", () => queueFormView(null)];
  if (first === "queues" && second && third === "edit") return ["queues", () => queueFormView(second)];
  if (first === "queues" && second && third === "deadletters") return ["queues", () => deadLettersView(second)];
  if (first === "queues") return ["queues", () => queuesView()];
  if (first === "run") return ["run", () => taskFormView()];
  if (first === "status") return ["status", () => statusView()];
  if (first === "tasks" && second) return ["tasks", () => taskView(second)];
  return ["tasks", () => tasksView(params)];
}

let current = null;
let busy = false;
let refreshFailed = false;  // the message line shows a refresh's error: clear it once one works

async function route() {
  current?.dispose?.();
  const [section, make] = pick(parse(location.hash));
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current = make();
  const main = $("#view");
  main.replaceChildren(current.node);
  document.title = `${current.title} · Hippo`;
  await refreshNow();
  // Focus the view's heading so keyboard and screen-reader users start at the view.
  current.node.querySelector("h2")?.focus({ preventScroll: true });
}

async function refreshNow() {
  if (!current?.refresh || busy) return;
  busy = true;
  const view = current;
  try {
    await view.refresh();
    if (refreshFailed) notify("");
    refreshFailed = false;
  } catch (error) {
    if (!(error instanceof api.NetworkError) && !(error instanceof api.ApiError && error.status === 401)) {
      notify(error.message, "error");
      refreshFailed = true;
    }
  } finally {
    busy = false;
  }
}

// -- the token ---------------------------------------------------------------

// Set when the user cancels the token dialog: the refresh's next 401s then say so in the
// message line instead of opening the dialog again every 2 s ("Token…" opens it).
let declined = false;

function askForToken(reason, { asked = false } = {}) {
  const dialog = $("#login");
  if (dialog.open) return;
  if (declined && !asked) {
    notify("The API needs a token: use Token… at the top.", "error");
    return;
  }
  $("#login-reason").textContent = reason;
  $("#login-token").value = "";
  dialog.showModal();
  $("#login-token").focus();
}

function showAccess(access) {
  document.body.dataset.access = access;
  $("#access").textContent = access === "read" ? "read-only token" : "";
}

function setup() {
  api.on("unauthorized", (reason) => askForToken(`The API asks for a token: ${reason}.`));
  api.on("access", showAccess);
  api.on("network", (error) => {
    const banner = $("#network");
    banner.hidden = !error;
    banner.textContent = error ? error.message : "";
  });
  $("#login").addEventListener("cancel", () => { declined = true; });
  $("#login-cancel").addEventListener("click", () => {
    declined = true;
    $("#login").close();
  });
  $("#login-form").addEventListener("submit", () => {
    declined = false;
    api.setToken($("#login-token").value.trim());
    $("#sign-out").hidden = !api.token();
    route();
  });
  $("#sign-in").addEventListener("click", () => askForToken("Enter an API token.", { asked: true }));
  $("#sign-out").hidden = !api.token();
  $("#sign-out").addEventListener("click", () => {
    api.setToken("");
    $("#sign-out").hidden = true;
    showAccess("write");
    route();
  });
  window.addEventListener("hashchange", route);
  setInterval(() => {
    if (document.visibilityState === "visible") refreshNow();
  }, REFRESH_MS);
  route();
}

setup();
