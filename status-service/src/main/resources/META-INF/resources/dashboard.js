// The Launch dashboard (ADR 0009): one ES module over the status service's public API — the same JSON and
// Server-Sent Events the CLI reads. Views are hash routes: #/ queues, #/runs?queue=&state=, #/runs/<id>, #/agents.
// Text is always set as text (never parsed as HTML), so run output and names cannot inject markup.

const STATES = ["QUEUED", "CLAIMED", "STARTING", "RUNNING", "STOPPING", "FINISHED", "FAILED", "STOPPED", "PREEMPTED"];
const TERMINAL = new Set(["FINISHED", "FAILED", "STOPPED", "PREEMPTED"]);
const PRIORITIES = ["critical", "high", "medium", "low"];
const PAGE = 50;
/** Characters of output a run's page keeps (the oldest go first): a tail, not an archive. */
const LOG_TAIL = 1_000_000;

const view = document.getElementById("view");
const errorBox = document.getElementById("error");
const liveBadge = document.getElementById("live");

/** What the current view holds open (streams, timers); closed when the route changes. */
let cleanups = [];

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(state) {
  return el("span", { class: `badge ${state}`, "data-state": state }, state);
}

function age(instant) {
  if (!instant) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(instant)) / 1000));
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function when(instant) {
  return instant ? el("time", { datetime: instant, title: instant }, `${age(instant)} ago`) : "";
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

/** A JSON answer, or an Error whose message is the problem's detail (what to fix), as the CLI shows it. */
async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}) },
  });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && (body.detail || body.title);
    const fields = body && Array.isArray(body.errors)
      ? body.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : "";
    throw new Error(detail ? (fields ? `${detail} (${fields})` : detail) : `${response.status} ${response.statusText}`);
  }
  return body;
}

/** Calls fn once, `ms` after the first of a burst of calls: a stream of changes makes one refetch per `ms`. */
function coalesce(fn, ms) {
  let timer = null;
  cleanups.push(() => clearTimeout(timer));
  return () => {
    if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        fn();
      }, ms);
    }
  };
}

function every(ms, fn) {
  const timer = setInterval(fn, ms);
  cleanups.push(() => clearInterval(timer));
}

let openStreams = 0;

/** An EventSource closed with the view; the header shows whether the page is live. */
function stream(url, handlers) {
  const source = new EventSource(url);
  let counted = false;
  const count = (open) => {
    if (open !== counted) {
      counted = open;
      openStreams += open ? 1 : -1;
      liveBadge.textContent = openStreams > 0 ? "live" : "offline";
      liveBadge.classList.toggle("on", openStreams > 0);
    }
  };
  source.addEventListener("open", () => {
    count(true);
    handlers.open?.();
  });
  source.addEventListener("error", () => count(source.readyState === EventSource.OPEN));
  for (const [name, handler] of Object.entries(handlers)) {
    if (name !== "open") source.addEventListener(name, (event) => handler(event, source));
  }
  const close = () => {
    source.close();
    count(false);
  };
  cleanups.push(close);
  return { source, close };
}

// ---------------------------------------------------------------------------------------------------- queues

async function queuesView() {
  const table = el("tbody");
  const note = el("p", { class: "muted" });
  view.replaceChildren(el("h1", {}, "Queues"), note,
    el("div", { class: "scroll" }, el("table", { id: "queues" },
      el("thead", {}, el("tr", {},
        el("th", {}, "Queue"), el("th", { class: "wide" }, "Target"), el("th", { class: "num" }, "Queued"),
        el("th", { class: "num" }, "Running"), el("th", {}, "Agents serving"), el("th", {}, "Oldest wait"))),
      table)));
  const load = async () => {
    const overview = await api("/api/v1/queue-stats");
    note.textContent = overview.queueService === "reachable" ? ""
      : `The queue service cannot be asked (${overview.queueService}): queues are listed as their runs name them.`;
    if (overview.items.length === 0) {
      table.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" },
        "No queues yet: create one with ./launch queue create NAME --target local-process")));
      return;
    }
    table.replaceChildren(...overview.items.map((q) => {
      const levels = q.queuedByPriority
        ? el("div", { class: "levels" }, Object.entries(q.queuedByPriority).map(([l, n]) => `${l} ${n}`).join(" · "))
        : null;
      const agents = q.agents.length === 0 ? el("span", { class: "muted" }, "none")
        : q.agents.map((a) => el("div", { class: "mono" }, `${a.agentId} (${a.running}/${a.maxJobs})`));
      return el("tr", { "data-queue": q.queue },
        el("td", {}, el("a", { href: `#/runs?queue=${encodeURIComponent(q.queue)}` }, q.queue),
          q.defined === false ? el("div", { class: "muted" }, "deleted") : null,
          q.lockdown ? el("div", { class: "muted" }, "lockdown") : null),
        el("td", { class: "wide" }, q.targetType ?? ""),
        el("td", { class: "num queued" }, String(q.queued), levels),
        el("td", { class: "num running" }, String(q.running)),
        el("td", {}, agents),
        el("td", {}, q.oldestQueuedAt ? age(q.oldestQueuedAt) : el("span", { class: "muted" }, "—")));
    }));
  };
  const refresh = coalesce(() => load().then(() => showError(""), (e) => showError(e.message)), 250);
  stream("/api/v1/runs/changes", { message: refresh, open: refresh });
  every(5000, refresh); // agents' heartbeats and the oldest wait move without a run changing
  await load();
}

// ------------------------------------------------------------------------------------------------------ runs

async function runsView(params) {
  const queue = params.get("queue") || "";
  const state = params.get("state") || "";
  const agent = params.get("agent") || "";
  const cursors = [null]; // the `after` of each page read so far; the last is the page shown
  const body = el("tbody");
  const older = el("button", { type: "button", id: "older" }, "Older →");
  const newer = el("button", { type: "button", id: "newer" }, "← Newer");
  const queueInput = el("input", { name: "queue", value: queue, placeholder: "any", list: "queue-names", size: 16 });
  const stateSelect = el("select", { name: "state" }, el("option", { value: "" }, "any"),
    STATES.map((s) => el("option", { value: s, selected: s === state }, s)));
  const names = el("datalist", { id: "queue-names" });
  const form = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (queueInput.value.trim()) next.set("queue", queueInput.value.trim());
    if (stateSelect.value) next.set("state", stateSelect.value);
    location.hash = `#/runs${next.toString() ? `?${next}` : ""}`;
  } }, el("label", {}, "Queue", queueInput), el("label", {}, "State", stateSelect),
    el("button", { type: "submit", class: "primary" }, "Filter"), names);
  view.replaceChildren(el("h1", {}, queue ? `Runs of ${queue}` : agent ? `Runs of agent ${agent}` : "Runs"), form,
    el("div", { class: "scroll" }, el("table", { id: "runs" }, el("thead", {}, el("tr", {},
      el("th", {}, "Run"), el("th", {}, "State"), el("th", {}, "Queue"), el("th", { class: "wide" }, "Job"),
      el("th", { class: "wide" }, "Priority"), el("th", { class: "wide" }, "Agent"), el("th", {}, "Created"),
      el("th", { class: "wide" }, "Updated"))), body)),
    el("div", { class: "pager" }, newer, older));
  api("/api/v1/queue-stats").then((o) => names.replaceChildren(...o.items.map((q) => el("option", { value: q.queue }))),
    () => {});

  const rows = new Map();
  const load = async () => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (queue) query.set("queue", queue);
    if (state) query.set("state", state);
    if (agent) query.set("agent", agent);
    const after = cursors[cursors.length - 1];
    if (after) query.set("after", after);
    const page = await api(`/api/v1/runs?${query}`);
    rows.clear();
    body.replaceChildren(...(page.items.length ? page.items.map((run) => {
      const row = el("tr", { "data-run": run.runId },
        el("td", { class: "mono" }, el("a", { href: `#/runs/${run.runId}`, title: run.runId }, run.runId.slice(-12))),
        el("td", { class: "state" }, badge(run.state)),
        el("td", {}, run.queue),
        el("td", { class: "wide" }, `${run.job}:${run.jobVersion}`),
        el("td", { class: "wide" }, run.priority ?? ""),
        el("td", { class: "wide mono" }, run.agentId ?? ""),
        el("td", {}, when(run.createdAt)),
        el("td", { class: "wide updated" }, when(run.updatedAt)));
      rows.set(run.runId, row);
      return row;
    }) : [el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No runs match."))]));
    older.disabled = !page.next;
    older.dataset.next = page.next ?? "";
    newer.disabled = cursors.length === 1;
  };
  const refresh = coalesce(() => load().then(() => showError(""), (e) => showError(e.message)), 300);
  older.addEventListener("click", () => {
    cursors.push(older.dataset.next);
    load().catch((e) => showError(e.message));
  });
  newer.addEventListener("click", () => {
    cursors.pop();
    load().catch((e) => showError(e.message));
  });
  const changes = `/api/v1/runs/changes${queue ? `?queue=${encodeURIComponent(queue)}` : ""}`;
  stream(changes, {
    open: refresh, // after a reconnect what was missed is read afresh
    message: (event) => {
      const change = JSON.parse(event.data);
      const row = rows.get(change.runId);
      if (row) {
        row.querySelector("td.state").replaceChildren(badge(change.state));
        row.querySelector("td.updated").replaceChildren(when(change.at));
      }
      // a new run, or one that leaves or joins the filter: the page is read again (once per burst)
      if (!row ? cursors.length === 1 : state && change.state !== state) refresh();
    },
  });
  await load();
}

// ------------------------------------------------------------------------------------------------ run detail

async function runView(runId) {
  const facts = el("dl", { class: "facts" });
  const history = el("tbody");
  const attempts = el("div");
  const resolved = el("pre", { class: "json" });
  const log = el("pre", { class: "log", id: "log" });
  const logState = el("span", { class: "muted", id: "log-state" }, "waiting for output…");
  const stop = el("button", { type: "button", class: "danger", id: "stop" }, "Stop");
  const level = el("select", { id: "priority" }, PRIORITIES.map((p) => el("option", { value: p }, p)));
  const move = el("button", { type: "button", id: "reprioritize" }, "Reprioritize");
  const moveBox = el("span", { class: "actions", hidden: true }, el("label", {}, "Priority", level), move);
  const title = el("h1", {}, `Run ${runId}`);
  const stateHolder = el("span", { id: "state" });
  view.replaceChildren(title,
    el("div", { class: "actions" }, stateHolder, stop, moveBox),
    el("div", { class: "grid2" },
      el("div", { class: "card" }, facts),
      el("div", { class: "card" }, el("h2", { style: "margin-top:0" }, "History"),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "State"), el("th", {}, "At"), el("th", {}, "Reason"))),
          history))),
    el("h2", {}, "Output ", logState), log,
    el("h2", {}, "Attempts"), attempts,
    el("h2", {}, "Resolved request"), resolved);

  let current = null;
  let shownPriority;
  let stopAsked = false; // the stop was accepted: the read model may show it a moment later
  const show = (run) => {
    current = run;
    stateHolder.replaceChildren(badge(run.state));
    const pairs = [
      ["Queue", el("a", { href: `#/runs?queue=${encodeURIComponent(run.queue)}` }, run.queue)],
      ["Job", `${run.job}:${run.jobVersion}`],
      ["Attempt", String(run.attempt)],
      ["Priority", run.priority],
      ["Position", run.position === undefined ? null : String(run.position)],
      ["Pending", run.pendingReason],
      ["Agent", run.agentId],
      ["Target", run.target ? `${run.target.type}${run.target.handle ? ` · ${run.target.handle}` : ""}` : null],
      ["Exit code", run.exitCode === undefined ? null : String(run.exitCode)],
      ["Failure", run.failure ? `${run.failure.stage}: ${run.failure.reason}` : null],
      ["Stop requested", run.stopRequested ? "yes" : null],
      ["Created", when(run.createdAt)],
      ["Updated", when(run.updatedAt)],
    ];
    facts.replaceChildren(...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k.toLowerCase() }, v)]));
    history.replaceChildren(...run.history.map((h) => el("tr", {},
      el("td", {}, badge(h.state)), el("td", {}, el("time", { datetime: h.at, title: h.at },
        new Date(h.at).toLocaleString())), el("td", {}, h.reason ?? ""))));
    attempts.replaceChildren(run.attempts.length === 0 ? el("p", { class: "muted" }, "Not started yet.")
      : el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "#"),
        el("th", {}, "Agents"), el("th", {}, "Handle"), el("th", {}, "Last state"))),
      el("tbody", {}, run.attempts.map((a) => el("tr", {}, el("td", {}, String(a.attempt)),
        el("td", { class: "mono" }, a.agents.join(", ")), el("td", { class: "mono" }, a.handle ?? ""),
        el("td", {}, badge(a.outcome))))))));
    resolved.textContent = JSON.stringify(run.resolved ?? {}, null, 2);
    const ended = TERMINAL.has(run.state);
    stop.disabled = ended || run.stopRequested === true || stopAsked;
    moveBox.hidden = !(run.priority && run.state === "QUEUED");
    // the choice follows the run's priority only when that changes, so a refresh does not undo a pick
    if (run.priority !== shownPriority) level.value = run.priority ?? "medium";
    shownPriority = run.priority;
  };
  const load = async () => show(await api(`/api/v1/runs/${runId}`));
  const refresh = coalesce(() => load().then(() => showError(""), (e) => showError(e.message)), 200);

  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try {
      await api(`/api/v1/runs/${runId}/stop`, { method: "POST" });
      stopAsked = true;
      await load();
    } catch (e) {
      showError(e.message);
      stop.disabled = current ? TERMINAL.has(current.state) : false;
    }
  });
  move.addEventListener("click", async () => {
    move.disabled = true;
    try {
      await api(`/api/v1/runs/${runId}`, { method: "PATCH", body: JSON.stringify({ priority: level.value }) });
      await load();
    } catch (e) {
      showError(e.message);
    } finally {
      move.disabled = false;
    }
  });

  await load();
  // the state live: the current one first, then each change; closed at the end (it would reconnect forever)
  stream(`/api/v1/runs/${runId}/events`, {
    message: (event, source) => {
      const change = JSON.parse(event.data);
      stateHolder.replaceChildren(badge(change.state));
      refresh();
      if (TERMINAL.has(change.state)) {
        stop.disabled = true;
        moveBox.hidden = true;
        source.close();
      }
    },
  });
  // the output live: appended as stored, resumed from the last event id after a reconnect, closed at complete
  let logged = 0;
  stream(`/api/v1/runs/${runId}/logs/stream`, {
    log: (event) => {
      const page = JSON.parse(event.data);
      const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(page.text);
      logged += page.text.length;
      if (logged > LOG_TAIL) {
        log.textContent = log.textContent.slice(-LOG_TAIL);
        logged = LOG_TAIL;
      }
      logState.textContent = "live";
      if (follow) log.scrollTop = log.scrollHeight;
    },
    complete: (event, source) => {
      source.close();
      logState.textContent = logged ? "complete" : "complete: the run wrote no output";
      logState.dataset.complete = "true";
    },
  });
}

// ---------------------------------------------------------------------------------------------------- agents

async function agentsView() {
  const body = el("tbody");
  view.replaceChildren(el("h1", {}, "Agents"),
    el("div", { class: "scroll" }, el("table", { id: "agents" }, el("thead", {}, el("tr", {},
      el("th", {}, "Agent"), el("th", {}, "State"), el("th", {}, "Queues"), el("th", { class: "num" }, "Slots"),
      el("th", {}, "Heartbeat"), el("th", { class: "wide" }, "Host"), el("th", { class: "wide" }, "Started"))), body)));
  const load = async () => {
    const page = await api("/api/v1/agents?limit=500");
    body.replaceChildren(...(page.items.length ? page.items.map((a) => el("tr", { "data-agent": a.agentId },
      el("td", { class: "mono" }, el("a", { href: `#/runs?agent=${encodeURIComponent(a.agentId)}` }, a.agentId)),
      el("td", {}, badge(a.state)),
      el("td", {}, a.queues.map((q) => el("div", {}, el("a", { href: `#/runs?queue=${encodeURIComponent(q)}` }, q)))),
      el("td", { class: "num" }, `${a.running} / ${a.maxJobs}`),
      el("td", {}, `${age(a.lastHeartbeat)} ago`),
      el("td", { class: "wide mono" }, `${a.host ?? ""}${a.pid ? ` (pid ${a.pid})` : ""}`),
      el("td", { class: "wide" }, when(a.startedAt)))) : [el("tr", {}, el("td", { colspan: 7, class: "muted" },
      "No agents yet: start one with ./launch agent --queue NAME"))]));
  };
  every(2000, () => load().then(() => showError(""), (e) => showError(e.message)));
  // no stream of agents: heartbeats are read every 2 s, which the header says
  liveBadge.textContent = "every 2 s";
  liveBadge.classList.add("on");
  cleanups.push(() => {
    liveBadge.textContent = "offline";
    liveBadge.classList.remove("on");
  });
  await load();
}

// ---------------------------------------------------------------------------------------------------- router

async function route() {
  cleanups.forEach((close) => close());
  cleanups = [];
  showError("");
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  const section = parts[0] || "queues";
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("current", link.dataset.route === section);
  }
  try {
    if (section === "runs" && parts[1]) await runView(decodeURIComponent(parts[1]));
    else if (section === "runs") await runsView(params);
    else if (section === "agents") await agentsView();
    else await queuesView();
  } catch (e) {
    showError(e.message);
  }
}

window.addEventListener("hashchange", route);
route();
