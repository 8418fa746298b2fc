// Talking to Hippo's REST API from the page: the session's token, errors shaped for
// the forms, and the banner that says when the API cannot be reached.
//
// Text that came from the API is only ever put on the page with textContent (dom.js),
// never parsed as HTML.

const TOKEN_KEY = "hippo-token";

export class ApiError extends Error {
  /** An answer other than 2xx: `status`, the API's `error` text, and `fields`
   *  ([{field, message}]) when the API named the fields at fault (422). */
  constructor(status, message, fields) {
    super(message);
    this.status = status;
    this.fields = fields || [];
  }
}

export class NetworkError extends Error {}

const listeners = { unauthorized: [], access: [], network: [] };

/** Subscribe to "unauthorized" (401: ask for a token), "access" ("read" or "write",
 *  from each answer's X-Hippo-Access header) and "network" (an Error, or null once
 *  the API answers again). */
export function on(event, callback) {
  listeners[event].push(callback);
}

function emit(event, value) {
  for (const callback of listeners[event]) callback(value);
}

// The token lives for the browser tab's session only (sessionStorage): closing the
// tab forgets it, and it is never written to localStorage or a cookie.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** One call to the API: resolves to {data, response}; rejects with ApiError or
 *  NetworkError. `raw` leaves the body unread (the caller reads it). */
export async function call(method, path, body, { raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    const failure = new NetworkError(`Cannot reach the API (${error.message}); retrying`);
    emit("network", failure);
    throw failure;
  }
  if (response.status >= 502 && response.status <= 504 && !response.headers.get("content-type")?.includes("json")) {
    // A proxy in front of the API answered for it: the API itself is away.
    const failure = new NetworkError(`The API is not answering (HTTP ${response.status}); retrying`);
    emit("network", failure);
    throw failure;
  }
  emit("network", null);
  const access = response.headers.get("X-Hippo-Access");
  if (access) emit("access", access);
  if (response.ok && raw) return { data: null, response };
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) emit("unauthorized", data?.error || "a token is needed");
    throw new ApiError(response.status, data?.error || `HTTP ${response.status}`, data?.errors);
  }
  return { data, response };
}

export const path = (strings, ...values) =>
  strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
