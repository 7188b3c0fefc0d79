// Engram's memory console. Plain ES module, no build step, no third-party code.
// Every call carries the signed-in bearer token and goes through the server's auth:
// Engram's own routes under /engram/, and the LangGraph API for threads and approvals.
// User text is only ever set as text (never as HTML).

const GRAPH = "memory_agent";
const TOKEN_KEY = "engram.token";
const $ = (id) => document.getElementById(id);

let me = null;

// ---------- small helpers ----------

const messages = (n) => `${n} ${n === 1 ? "message" : "messages"}`;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function when(iso) {
  if (!iso) return "unknown time";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function short(id) {
  return id ? String(id).slice(0, 8) : "-";
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(id, text, busy = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("busy", busy);
}

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `Engram did not answer (${err.message}). Is the server running?`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const detail = (data && (data.detail || data.message || data.error)) || text || response.statusText;
    throw new ApiError(response.status, `${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return data;
}

// Run `work`, showing its failure in the page's alert; a 401 signs the user out.
async function guarded(statusId, work) {
  try {
    showError("");
    return await work();
  } catch (err) {
    if (statusId) setStatus(statusId, "");
    if (err instanceof ApiError && err.status === 401) {
      signOut(`Signed out: the server refused the token (${err.message}).`);
    } else {
      showError(err.message || String(err));
    }
    return undefined;
  }
}

// ---------- sign in ----------

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    me = await api("/engram/me");
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    const reason = err instanceof ApiError && err.status === 401
      ? `That token was refused: ${err.message.replace(/^401: /, "")}`
      : err.message;
    showError(reason);
    $("token").focus();
    return;
  }
  showError("");
  $("who").textContent = `${me.user} · ${me.org}${me.role === "member" ? "" : ` · ${me.role}`}`;
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  $("tab-health").hidden = me.role !== "admin";
  selectTab("memories"); // loads the memories
  loadApprovals(); // for the count on its tab
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("who").textContent = "";
  $("token").value = "";
  for (const id of ["memories", "approvals", "threads", "episodes", "health"]) $(id).replaceChildren();
  showError(message);
  $("token").focus();
}

// ---------- tabs (WAI-ARIA tabs: arrows move between them) ----------

const TABS = ["memories", "approvals", "conversations", "health", "account"];
const LOADERS = {
  memories: () => loadMemories(),
  approvals: () => loadApprovals(),
  conversations: () => loadThreads(),
  health: () => loadHealth(),
  account: () => {},
};

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  LOADERS[name]();
}

function visibleTabs() {
  return TABS.filter((tab) => !$(`tab-${tab}`).hidden);
}

function onTabKey(event) {
  const tabs = visibleTabs();
  const current = tabs.indexOf(event.currentTarget.id.replace("tab-", ""));
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -current, End: tabs.length - 1 - current };
  if (!(event.key in moves)) return;
  event.preventDefault();
  selectTab(tabs[(current + moves[event.key] + tabs.length) % tabs.length], true);
}

// ---------- memories ----------

function provenance(source) {
  if (!source || Object.keys(source).length === 0) return "unknown";
  if (source.edited_at) return `edited by you ${when(source.edited_at)}`;
  const parts = [];
  if (source.thread_id) parts.push(`thread ${short(source.thread_id)}`);
  if (source.message_id) parts.push(`message ${short(source.message_id)}`);
  return parts.join(", ") || "unknown";
}

function meta(pairs) {
  return el("dl", { class: "meta" },
    pairs.filter(([, value]) => value !== undefined && value !== null)
      .map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value))));
}

function historyList(memory) {
  const entries = [
    ...(memory.history || []).map((h) => ({ text: h.text, until: h.until, why: h.reason })),
    ...(memory.superseded || []).map((s) => ({ text: s.text, until: s.invalid_at, why: "contradicted by a newer statement (superseded)" })),
  ].sort((a, b) => String(a.until).localeCompare(String(b.until)));
  if (entries.length === 0) return null;
  return el("details", { class: "history-box" },
    el("summary", {}, `History (${entries.length} earlier ${entries.length === 1 ? "text" : "texts"})`),
    el("ol", { class: "history" }, entries.map((entry) => el("li", {},
      el("span", { class: "old" }, entry.text ?? ""), " ",
      el("span", { class: "why" }, `until ${when(entry.until)}: ${entry.why || "changed"}`)))));
}

function memoryCard(memory) {
  const number = (value) => (typeof value === "number" ? value.toFixed(2) : undefined);
  const item = el("li", { class: "card", "data-key": memory.key });
  const text = el("p", { class: "text" }, memory.text);
  const actions = el("div", { class: "actions" });
  if (!memory.shared) {
    actions.append(
      el("button", { type: "button", onclick: () => startEdit(item, memory), "aria-label": `Edit: ${memory.text}` }, "Edit"),
      el("button", { type: "button", onclick: () => removeMemory(memory), "aria-label": `Delete: ${memory.text}` }, "Delete"),
    );
  }
  item.append(...[
    el("p", {}, el("span", { class: "badge" }, memory.kind),
      memory.shared ? [" ", el("span", { class: "badge shared" }, "shared")] : null),
    text,
    meta([
      ["importance", number(memory.importance)],
      ["confidence", number(memory.confidence)],
      ["from", provenance(memory.source)],
      ["learned", when(memory.created_at)],
      ["changed", memory.updated_at !== memory.created_at ? when(memory.updated_at) : undefined],
      ["match", memory.score !== undefined
        ? `score ${memory.score.toFixed(2)} · meaning ${memory.similarity.toFixed(2)}${memory.matched_words ? " · words" : ""}`
        : undefined],
    ]),
    historyList(memory),
    actions,
  ].filter(Boolean));
  return item;
}

let memoriesRequest = 0; // only the latest listing may fill the page

async function loadMemories() {
  const request = ++memoriesRequest;
  const query = $("query").value.trim();
  const kind = $("kind").value;
  const params = new URLSearchParams({ limit: "100" });
  if (query) params.set("q", query);
  if (kind) params.set("kind", kind);
  setStatus("memories-status", "Loading memories…", true);
  await guarded("memories-status", async () => {
    const data = await api(`/engram/memories?${params}`);
    if (request !== memoriesRequest) return;
    $("memories").replaceChildren(...data.memories.map(memoryCard));
    const n = data.memories.length;
    setStatus("memories-status", n === 0
      ? (query ? `No memory matches “${query}”.` : "Nothing remembered yet: talk to the agent, import history, or use MCP's remember.")
      : `${n} ${n === 1 ? "memory" : "memories"}${query ? ` for “${query}”, best first` : ", newest first"}.`);
  });
}

function startEdit(item, memory) {
  const id = `edit-${memory.key}`;
  const area = el("textarea", { id, maxlength: "2000" });
  area.value = memory.text;
  const form = el("form", { class: "edit" },
    el("label", { for: id }, "New text"), area,
    el("div", { class: "actions" },
      el("button", { type: "submit" }, "Save"),
      el("button", { type: "button", onclick: () => loadMemories() }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setStatus("memories-status", "Saving…", true);
    const saved = await guarded("memories-status", () =>
      api(`/engram/memories/${encodeURIComponent(memory.key)}`, { method: "PATCH", body: { text: area.value } }));
    if (saved) {
      item.replaceWith(memoryCard(saved));
      setStatus("memories-status", "Saved. The old text is in the memory's history.");
      const box = document.querySelector(`[data-key="${CSS.escape(saved.key)}"] details`);
      if (box) box.open = true;
    }
  });
  item.replaceChildren(form);
  area.focus();
}

async function removeMemory(memory) {
  if (!window.confirm(`Delete this memory and its history?\n\n${memory.text}`)) return;
  setStatus("memories-status", "Deleting…", true);
  const done = await guarded("memories-status", () =>
    api(`/engram/memories/${encodeURIComponent(memory.key)}`, { method: "DELETE" }));
  if (done) {
    await loadMemories();
    setStatus("memories-status", "Deleted.");
  }
}

// ---------- approvals ----------

function approvalsOf(thread) {
  const found = [];
  for (const list of Object.values(thread.interrupts || {})) {
    for (const interrupt of list) {
      if (interrupt.value && interrupt.value.type === "memory_approval") found.push(interrupt.value);
    }
  }
  return found;
}

function operationRow(threadId, op) {
  const name = `decide-${threadId}-${op.id}`;
  const editId = `${name}-text`;
  const edit = el("textarea", { id: editId, hidden: true, maxlength: "2000", "aria-label": "Edited text" });
  edit.value = op.text;
  const choice = (value, label, checked = false) => {
    const id = `${name}-${value}`;
    return el("span", {},
      el("input", { type: "radio", name, id, value, checked, onchange: () => { edit.hidden = value !== "edit"; } }),
      " ", el("label", { for: id }, label));
  };
  return el("div", { class: "op", "data-op": op.id },
    el("p", {}, el("span", { class: "badge" }, op.action), " ", el("span", { class: "badge" }, op.kind)),
    el("p", { class: "text" }, op.text),
    op.previous_text && op.action !== "delete"
      ? el("p", { class: "why" }, "replaces: ", el("span", { class: "old" }, op.previous_text)) : null,
    el("p", { class: "why" }, `why: ${op.reason}`),
    el("fieldset", {},
      el("legend", {}, "Decision"),
      choice("approve", "Approve", true), choice("reject", "Reject"), choice("edit", "Edit, then approve")),
    edit);
}

function approvalCard(thread, request) {
  const card = el("article", { class: "card approval", "data-thread": thread.thread_id,
    "aria-label": `Pending memory write in thread ${short(thread.thread_id)}` });
  const rows = request.operations.map((op) => operationRow(thread.thread_id, op));
  const submit = async () => {
    const reply = {};
    for (const op of request.operations) {
      const picked = card.querySelector(`input[name="decide-${CSS.escape(thread.thread_id)}-${CSS.escape(op.id)}"]:checked`);
      if (picked.value === "edit") {
        const text = card.querySelector(`#${CSS.escape(`decide-${thread.thread_id}-${op.id}-text`)}`).value.trim();
        if (!text) { showError("An edited memory needs some text."); return; }
        reply[op.id] = { edit: text };
      } else {
        reply[op.id] = picked.value;
      }
    }
    await resume(thread, reply);
  };
  card.append(
    el("h2", { class: "small" }, `Thread ${short(thread.thread_id)} · waiting since ${when(thread.updated_at)}`),
    ...rows,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary", onclick: submit }, "Submit decisions"),
      el("button", { type: "button", onclick: () => resume(thread, "approve") }, "Approve all"),
      el("button", { type: "button", onclick: () => resume(thread, "reject") }, "Reject all")));
  return card;
}

async function loadApprovals() {
  setStatus("approvals-status", "Loading pending writes…", true);
  await guarded("approvals-status", async () => {
    const threads = await api("/threads/search", { method: "POST", body: { status: "interrupted", limit: 100 } });
    const cards = [];
    for (const thread of threads) {
      for (const request of approvalsOf(thread)) cards.push(approvalCard(thread, request));
    }
    $("approvals").replaceChildren(...cards);
    $("approval-count").textContent = cards.length ? String(cards.length) : "";
    setStatus("approvals-status", cards.length
      ? `${cards.length} memory ${cards.length === 1 ? "write waits" : "writes wait"} for your decision.`
      : "Nothing waits for approval.");
  });
}

async function resume(thread, reply) {
  setStatus("approvals-status", "Resuming the run…", true);
  const assistant = (thread.metadata && (thread.metadata.assistant_id || thread.metadata.graph_id)) || GRAPH;
  const done = await guarded("approvals-status", () =>
    api(`/threads/${encodeURIComponent(thread.thread_id)}/runs/wait`, {
      method: "POST", body: { assistant_id: assistant, command: { resume: reply } },
    }));
  if (done !== undefined) {
    await loadApprovals();
    setStatus("approvals-status", `Done: thread ${short(thread.thread_id)} resumed. ${$("approvals-status").textContent}`);
  }
}

// ---------- conversations ----------
// UUIDv7 thread ids share their leading (time) digits: label a thread by how it opened.
function threadLabel(c) {
  const opening = c.opening ? `“${c.opening.length >= 80 ? `${c.opening}…` : c.opening}”`
    : c.thread_id ? `Thread ${c.thread_id}` : "Without a thread";
  return `${opening} · ${when(c.first_said_at)} · ${messages(c.episodes)}`;
}

async function loadThreads() {
  setStatus("threads-status", "Loading…", true);
  await guarded("threads-status", async () => {
    const data = await api("/engram/conversations?limit=100");
    $("threads").replaceChildren(...data.conversations.map((c) => el("li", {},
      el("button", { type: "button", "data-thread": c.thread_id ?? "-", onclick: (e) => loadEpisodes(c.thread_id ?? "-", e.currentTarget) },
        threadLabel(c)))));
    setStatus("threads-status", data.conversations.length ? "" : "No conversation kept yet.");
  });
}

async function loadEpisodes(threadId, button) {
  for (const other of $("threads").querySelectorAll("button")) other.removeAttribute("aria-current");
  button.setAttribute("aria-current", "true");
  $("episodes-title").textContent = `Episodes of ${threadId === "-" ? "messages without a thread" : `thread ${short(threadId)}`}, newest first`;
  setStatus("episodes-status", "Loading…", true);
  await guarded("episodes-status", async () => {
    const data = await api(`/engram/conversations/${encodeURIComponent(threadId)}?limit=200`);
    $("episodes").replaceChildren(...data.episodes.map((e) => el("li", { class: `episode ${e.role}` },
      el("strong", {}, e.role === "user" ? "User" : "Assistant"), " · ", el("time", { datetime: e.said_at }, when(e.said_at)),
      e.superseded_by ? [" ", el("span", { class: "badge superseded", title: "A later statement replaced what this said" }, "superseded")] : null,
      el("p", {}, e.text))));
    setStatus("episodes-status", data.episodes.length ? `${messages(data.episodes.length)}.` : "No episode in this thread.");
  });
}

// ---------- health ----------

async function loadHealth() {
  if (!me || me.role !== "admin") return;
  setStatus("health-status", "Loading…", true);
  await guarded("health-status", async () => {
    const h = await api("/engram/health");
    const pct = (v) => (v === null || v === undefined ? "no data" : `${(v * 100).toFixed(1)}%`);
    const ms = (v) => (v === null || v === undefined ? "no data" : `${v.toFixed(1)} ms`);
    const tiles = [
      ["Retrievals", String(h.retrievals)],
      ["Hit rate", pct(h.hit_rate)],
      ["Empty-retrieval rate", pct(h.empty_rate)],
      [`Empty rate, last ${h.recent_window}`, pct(h.recent_empty_rate)],
      ["Retrieval p50", ms(h.retrieval_latency.p50_ms)],
      ["Retrieval p95", ms(h.retrieval_latency.p95_ms)],
      ["Retrieval p99", ms(h.retrieval_latency.p99_ms)],
    ];
    $("health").replaceChildren(...tiles.map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value))));
    const rows = Object.entries(h.node_latency).map(([node, l]) => el("tr", {},
      el("th", { scope: "row" }, node), el("td", {}, String(l.count)),
      el("td", {}, l.p50_ms ?? "-"), el("td", {}, l.p95_ms ?? "-"), el("td", {}, l.p99_ms ?? "-")));
    $("node-latency").querySelector("tbody").replaceChildren(...rows);
    $("node-latency").hidden = rows.length === 0;
    setStatus("health-status", `Since this server process started. The alert fires above ${pct(h.alert_threshold)} empty retrievals.`);
  });
}

// ---------- forget me ----------

async function forgetMe(event) {
  event.preventDefault();
  if ($("forget-confirm").value.trim().toLowerCase() !== "forget me") return;
  setStatus("forget-status", "Erasing…", true);
  const report = await guarded("forget-status", () => api("/engram/forget-me", { method: "POST" }));
  if (report) {
    $("forget-confirm").value = "";
    $("forget-button").disabled = true;
    setStatus("forget-status", `Erased: ${report.memories} memories and episodes, ${report.threads} threads.`);
    $("memories").replaceChildren();
    $("approval-count").textContent = "";
  }
}

// ---------- wiring ----------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) signIn(token);
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const tab of TABS) {
    $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
    $(`tab-${tab}`).addEventListener("keydown", onTabKey);
  }
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); loadMemories(); });
  $("kind").addEventListener("change", () => loadMemories());
  $("refresh-approvals").addEventListener("click", () => loadApprovals());
  $("refresh-health").addEventListener("click", () => loadHealth());
  $("forget-confirm").addEventListener("input", (event) => {
    $("forget-button").disabled = event.target.value.trim().toLowerCase() !== "forget me";
  });
  $("forget-form").addEventListener("submit", forgetMe);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else $("token").focus();
});
