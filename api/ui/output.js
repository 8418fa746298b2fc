// A task's stdout or stderr, read through GET /tasks/{mesos_id}/logs/{name} a chunk at
// a time from the last offset read, so a running task's output grows on the page.

import * as api from "./api.js";
import { h, isEnded } from "./dom.js";

const CHUNK_BYTES = 65536;
// The page keeps at most this much of a stream; older text is dropped from the top.
const MAX_SHOWN_CHARS = 1_000_000;
const MAX_CHUNKS_PER_REFRESH = 16;

export function outputPanel(mesosId, name) {
  const pre = h("pre", { className: "output", id: `output-${name}`, tabIndex: 0, "aria-label": name });
  const status = h("span", { className: "muted", id: `output-${name}-status` });
  const node = h("section", { className: "stream" }, h("h4", {}, name, " ", status), pre);
  let offset = 0;
  let done = false;
  const decoder = new TextDecoder();

  async function readChunk() {
    const query = new URLSearchParams({ offset: String(offset), length: String(CHUNK_BYTES) });
    const { response } = await api.call("GET", api.path`/tasks/${mesosId}/logs/${name}` + "?" + query, undefined, { raw: true });
    if ((response.headers.get("content-type") || "").includes("json")) {
      // {"data": text, "offset", "next_offset", "size"}: the API says where to read next
      // (a character cut at the end of a piece comes whole in the next one).
      const body = await response.json();
      const text = body.data || "";
      offset = body.next_offset ?? (body.offset ?? offset) + new TextEncoder().encode(text).length;
      return text;
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    offset += bytes.length;
    return decoder.decode(bytes, { stream: true });
  }

  function show(text) {
    if (!text) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let all = pre.textContent + text;
    if (all.length > MAX_SHOWN_CHARS) all = "…\n" + all.slice(-MAX_SHOWN_CHARS);
    pre.textContent = all;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  /** Read what is new; stops asking once the task ended and the stream is read. */
  async function refresh(task) {
    if (done) return;
    if (!task.started_tstamp && !task.agent_id) {
      status.textContent = isEnded(task) ? "(the task never started)" : "(not started yet)";
      pre.hidden = true;
      done = isEnded(task);
      return;
    }
    pre.hidden = false;
    const ended = isEnded(task);
    try {
      for (let i = 0; i < MAX_CHUNKS_PER_REFRESH; i++) {
        const text = await readChunk();
        show(text);
        if (!text) break;
      }
      status.textContent = ended ? "" : "(following while it runs)";
      if (ended) done = true;
      if (!pre.textContent) status.textContent = ended ? "(empty)" : "(nothing yet; following)";
    } catch (error) {
      if (error instanceof api.NetworkError) return;
      status.textContent = `(${error.message})`;
      if (ended) done = true;
    }
  }

  return { node, refresh };
}
