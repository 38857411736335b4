// jobsd's status page: jobs, a job's runs, alerts, and "run now".
//
// Plain DOM code, no framework. Everything shown comes from the JSON API and
// goes into the page as text nodes only (job output is untrusted): nothing
// here sets innerHTML or builds markup from data. URLs are relative, so the
// page works behind a reverse proxy at a sub-path. The API token lives in
// sessionStorage, never in a URL or a cookie. The page polls every 2 s and
// updates rows in place, so focus and scrolling survive an update.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "jobsd.token";
const STRIP_RUNS = 30;
const CHART_RUNS = 100;
const PAGE_RUNS = 20;

// ---- small helpers ----

// el("td", {class: "x", dataset: {job: name}}, "text", child) builds an element;
// strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

// A table cell: its header as a label (shown beside the value on narrow
// screens) and its content in one box, so the label and the content sit
// side by side however many pieces the content has.
function cell(label, attrs, ...children) {
  return el("td", { ...attrs, dataset: { label } }, el("div", { class: "cell" }, ...children));
}

// A second line under a cell's main text; the space keeps the words apart
// for screen readers and copy-paste.
function sub(...children) {
  return [" ", el("span", { class: "sub" }, ...children)];
}

// node's children replaced by these (null and false left out).
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== "")
    .map((c) => (typeof c === "number" ? String(c) : c)));
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function getJson(path) {
  const response = await fetch(path, { headers: headers(), cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.error) || "HTTP " + response.status);
  }
  return body;
}

function parseTime(text) { return text ? new Date(text) : null; }

function seconds(run) {
  const start = parseTime(run.started_at);
  const end = run.finished_at ? parseTime(run.finished_at) : new Date();
  return start ? Math.max(0, (end - start) / 1000) : 0;
}

function duration(s) {
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  const h = Math.floor(m / 60);
  if (h < 48) return h + " h " + (m % 60) + " min";
  return Math.floor(h / 24) + " d " + (h % 24) + " h";
}

// "3 min ago", "in 2 h"; the exact time goes into a title.
function relative(date) {
  if (!date) return "—";
  const s = (date - new Date()) / 1000;
  const text = duration(Math.abs(s)).replace(/ \d+ (s|min)$/, "");
  return s < 0 ? text + " ago" : "in " + text;
}

function timeCell(date) {
  return date ? el("time", { datetime: date.toISOString(), title: date.toLocaleString() }, relative(date))
              : el("span", { class: "muted" }, "—");
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

// "cron 0 3 * * *" -> "every day at 03:00"; other forms as they are.
function scheduleWords(schedule, zone) {
  const disabled = schedule.endsWith(" (disabled)");
  const text = disabled ? schedule.slice(0, -" (disabled)".length) : schedule;
  let words = text;
  const cron = /^cron (\S+) (\S+) (\S+) (\S+) (\S+)$/.exec(text);
  const num = (v) => /^\d+$/.test(v);
  const pad = (v) => String(v).padStart(2, "0");
  if (cron) {
    const [, min, hour, dom, mon, rawDow] = cron;
    const NAMES = { SUN: "0", MON: "1", TUE: "2", WED: "3", THU: "4", FRI: "5", SAT: "6" };
    const dow = rawDow.toUpperCase().replace(/SUN|MON|TUE|WED|THU|FRI|SAT/g, (d) => NAMES[d]);
    const at = num(min) && num(hour) ? "at " + pad(hour) + ":" + pad(min) : null;
    if (at && dom === "*" && mon === "*" && dow === "*") words = "every day " + at;
    else if (at && dom === "*" && mon === "*" && /^[0-7]$/.test(dow)) words = "every " + DAYS[Number(dow) % 7] + " " + at;
    else if (at && dom === "*" && mon === "*" && dow === "1-5") words = "every weekday " + at;
    else if (at && num(dom) && mon === "*" && dow === "*") words = "on day " + dom + " of every month " + at;
    else if (num(min) && hour === "*" && dom === "*" && mon === "*" && dow === "*") words = "every hour at :" + pad(min);
    else if (/^\*\/\d+$/.test(min) && hour === "*" && dom === "*" && mon === "*" && dow === "*") words = "every " + min.slice(2) + " minutes";
    else if (num(min) && /^\*\/\d+$/.test(hour) && dom === "*" && mon === "*" && dow === "*") words = "every " + hour.slice(2) + " hours at :" + pad(min);
    else words = text;
    if (words !== text) words += " " + zone;
  }
  return { words, raw: text, disabled };
}

// The job's state in one word (data-state) and in words for people.
function jobState(job, runs) {
  const running = (runs || []).find((r) => r.status === "running");
  if (!job.enabled) return { state: "disabled", text: "‖ disabled" };
  if (job.running > 0) {
    return { state: "running", text: "↻ running" + (running ? " " + duration(seconds(running)) : "") };
  }
  if (job.consecutive_failures > 0) {
    return { state: "failing", text: "✗ failing (" + job.consecutive_failures + " in a row)" };
  }
  if (!job.healthy) return { state: "stale", text: "⚠ stale" };
  if (!job.last_status) return { state: "never", text: "○ never ran" };
  return { state: "ok", text: "✓ ok" };
}

const STATE_ORDER = { failing: 0, stale: 1, running: 2, ok: 3, never: 4, disabled: 5 };

function statusBadge(status) {
  const symbol = { ok: "✓", failed: "✗", timeout: "✗", running: "↻", queued: "↻",
                   skipped: "↷", cancelled: "×", interrupted: "⚠" }[status] || "•";
  return el("span", { class: "status", dataset: { status } }, symbol + " " + status);
}

function say(kind, text) {
  const box = document.getElementById("message");
  box.hidden = false;
  box.dataset.kind = kind;
  box.textContent = text;
}

// ---- run now ----

async function runNow(name) {
  let response;
  try {
    response = await fetch("api/jobs/" + encodeURIComponent(name) + "/run",
                           { method: "POST", headers: headers() });
  } catch (e) {
    say("error", name + ": could not reach jobsd (" + e.message + ")");
    return;
  }
  let body = {};
  try { body = await response.json(); } catch (e) { body = {}; }
  if (response.status === 401 || response.status === 403) {
    say("unauthorized", name + ": not allowed (" + (body.error || "HTTP " + response.status) +
        "). Paste the API token above.");
    return;
  }
  if (response.status === 409) {
    say("skipped", name + ": skipped, a run is still going (overlap: skip)");
    return;
  }
  if (!response.ok) {
    say("error", name + ": " + (body.error || "HTTP " + response.status));
    return;
  }
  say("started", name + ": run " + body.id + " " + (body.status === "queued" ? "queued" : "started"));
  follow(name, body.id);
  refresh();
}

// Follows a run started from the page to its end and says how it ended.
async function follow(name, id) {
  for (let i = 0; i < 3600; ++i) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let runs;
    try { runs = await getJson("api/jobs/" + encodeURIComponent(name) + "/runs?limit=20"); }
    catch (e) { continue; }
    const run = runs.find((r) => r.id === id);
    if (run && run.status !== "running") {
      say(run.status === "ok" ? "finished" : "error",
          name + ": run " + id + " " + run.status + " after " + duration(seconds(run)) +
          (run.error ? ": " + run.error : ""));
      refresh();
      return;
    }
  }
}

function runButton(name) {
  return el("button", { type: "button", class: "run-now", dataset: { job: name },
                        "aria-label": "Run " + name + " now", onclick: () => runNow(name) }, "Run now");
}

// ---- the jobs view ----

const jobsView = {
  rows: new Map(),       // name -> <tr>
  parts: new WeakMap(),  // <tr> -> its cells by name
  root: null,

  mount(app) {
    const filter = el("input", { id: "filter", type: "search", placeholder: "filter by name",
                                 "aria-label": "Filter jobs by name", oninput: () => this.applyFilter() });
    const stateFilter = el("select", { id: "state-filter", "aria-label": "Filter jobs by state",
                                       onchange: () => this.applyFilter() },
      ["all", "failing", "stale", "running", "ok", "never", "disabled"].map(
        (s) => el("option", { value: s }, s === "all" ? "all states" : s)));
    this.count = el("span", { class: "count" });
    this.body = el("tbody");
    this.root = el("section", { "aria-labelledby": "jobs-title" },
      el("h1", { id: "jobs-title" }, "Jobs"),
      el("div", { class: "filters" }, filter, stateFilter, this.count),
      el("table", { id: "jobs" },
        el("thead", {}, el("tr", {}, ["Job", "State", "Schedule", "Last run", "Next run", "Last 30 runs", ""]
          .map((h) => el("th", { scope: "col" }, h)))),
        this.body));
    this.rows.clear();
    put(app, this.root);
  },

  async load() {
    const [jobs, recent] = await Promise.all([
      getJson("api/jobs"),
      getJson("api/runs/recent?per_job=" + STRIP_RUNS).catch(() => ({ jobs: {} })),
    ]);
    const runsOf = (recent && recent.jobs) || {};
    const seen = new Set();
    const entries = jobs.map((job) => ({ job, runs: runsOf[job.name] || [], ...jobState(job, runsOf[job.name]) }));
    entries.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.job.name.localeCompare(b.job.name));
    let previous = null;
    for (const entry of entries) {
      seen.add(entry.job.name);
      let row = this.rows.get(entry.job.name);
      if (!row) {
        row = this.makeRow(entry.job.name);
        this.rows.set(entry.job.name, row);
      }
      this.fill(row, entry);
      // Move only what is out of place: moving a row that holds focus would drop it.
      const wanted = previous ? previous.nextSibling : this.body.firstChild;
      if (wanted !== row) this.body.insertBefore(row, wanted);
      previous = row;
    }
    for (const [name, row] of this.rows) {
      if (!seen.has(name)) { row.remove(); this.rows.delete(name); }
    }
    this.applyFilter();
  },

  makeRow(name) {
    const row = el("tr", { dataset: { job: name } });
    const parts = {};
    const cells = [["name", "Job"], ["state", "State"], ["schedule", "Schedule"], ["last-run", "Last run"],
                   ["next-run", "Next run"], ["recent", "Last 30"]];
    for (const [cls, label] of cells) {
      const td = cell(label, { class: cls });
      parts[cls] = td.firstChild;
      row.append(td);
    }
    row.append(cell("", { class: "action" }, runButton(name)));
    this.parts.set(row, parts);
    return row;
  },

  fill(row, { job, runs, state, text }) {
    row.dataset.state = state;
    const c = this.parts.get(row);
    put(c.name, el("a", { href: "#/job/" + encodeURIComponent(job.name) }, job.name),
                           sub(job.type));
    put(c.state, text, (job.problems || []).length > 0 && state !== "failing"
      ? sub(job.problems.join("; ")) : null);
    const sched = scheduleWords(job.schedule, job.timezone);
    put(c.schedule, sched.words,
      sched.words !== sched.raw ? sub(el("code", {}, sched.raw)) : null);
    const last = runs.find((r) => r.status !== "running");
    if (job.last_status) {
      put(c["last-run"], statusBadge(job.last_status), " ",
        timeCell(parseTime(job.last_finished_at ||
                           (job.last_status === "ok" ? job.last_success_at : job.last_failure_at))),
        last ? sub("took " + duration(seconds(last))) : null,
        job.last_error && job.last_status !== "ok" ? sub(job.last_error) : null);
    } else {
      put(c["last-run"], el("span", { class: "muted" }, "never"));
    }
    put(c["next-run"], job.enabled && job.next_run ? timeCell(parseTime(job.next_run))
                                                       : el("span", { class: "muted" }, "—"));
    const strip = el("div", { class: "strip", role: "list", "aria-label": "Last runs, oldest first" });
    for (const run of runs.slice(0, STRIP_RUNS).reverse()) {
      const when = parseTime(run.started_at);
      const label = run.status + ", " + (when ? when.toLocaleString() : "") + ", " + duration(seconds(run)) +
                    (run.error ? ", " + run.error : "");
      strip.append(el("span", { class: "run", role: "listitem", dataset: { status: run.status },
                                title: label, "aria-label": label }));
    }
    put(c.recent, strip);
  },

  applyFilter() {
    const text = (document.getElementById("filter").value || "").toLowerCase();
    const state = document.getElementById("state-filter").value;
    let shown = 0;
    for (const [name, row] of this.rows) {
      const visible = name.toLowerCase().includes(text) && (state === "all" || row.dataset.state === state);
      row.hidden = !visible;
      if (visible) ++shown;
    }
    this.count.textContent = shown + " of " + this.rows.size + " jobs";
  },
};

// ---- a job's page ----

function runRow(run) {
  const output = run.output ? el("details", {}, el("summary", {}, "output"),
                                 el("pre", { class: "output" }, run.output)) : null;
  const metrics = run.metrics && Object.keys(run.metrics).length
    ? el("details", {}, el("summary", {}, "metrics"),
         el("pre", { class: "metrics" }, JSON.stringify(run.metrics, null, 1))) : null;
  const started = parseTime(run.started_at);
  return el("tr", { dataset: { runId: String(run.id), status: run.status } },
    cell("Run", {}, String(run.id)),
    cell("Trigger", {}, run.trigger,
         run.attempt > 1 ? sub("attempt " + run.attempt) : null),
    cell("Status", {}, statusBadge(run.status)),
    cell("Started", {}, started
         ? el("time", { datetime: started.toISOString() }, started.toLocaleString()) : "—"),
    cell("Duration", {}, duration(seconds(run))),
    cell("Details", { class: "detail" },
         run.error ? el("span", { class: "error" }, run.error) : null, output, metrics));
}

function durationChart(runs) {
  // Oldest on the left; bar height is the duration, colour and a title say the status.
  const list = runs.filter((r) => r.status !== "running").slice(0, CHART_RUNS).reverse();
  const width = 600, height = 140, pad = 18;
  const max = Math.max(0.001, ...list.map(seconds));
  const bar = list.length ? Math.min(24, (width - pad) / list.length) : 0;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
                             "aria-label": "Duration of the last " + list.length + " runs; longest " + duration(max),
                             preserveAspectRatio: "none" });
  chart.append(svg("line", { class: "axis", x1: pad, y1: height - pad, x2: width, y2: height - pad }));
  const label = svg("text", { x: 0, y: 10 });
  label.textContent = duration(max);
  chart.append(label);
  list.forEach((run, i) => {
    const h = Math.max(1, (seconds(run) / max) * (height - 2 * pad));
    const kind = run.status === "ok" ? "bar-ok" : run.status === "failed" || run.status === "timeout"
      ? "bar-failed" : "bar-other";
    const rect = svg("rect", { class: kind, x: pad + i * bar, y: height - pad - h,
                               width: Math.max(1, bar - 1), height: h });
    const title = svg("title");
    title.textContent = "run " + run.id + ": " + run.status + ", " + duration(seconds(run));
    rect.append(title);
    chart.append(rect);
  });
  return chart;
}

const jobView = {
  name: "",

  mount(app, name) {
    this.name = name;
    this.seen = "";
    this.oldest = null;
    this.older = [];
    this.facts = el("dl", { class: "facts" });
    this.chart = el("div", { id: "duration-chart", class: "chart" });
    this.runs = el("tbody");
    this.more = el("button", { id: "older", type: "button", onclick: () => this.loadOlder() }, "Older runs");
    this.alerts = el("tbody");
    this.config = el("pre", { id: "job-config" });
    put(app, el("section", { "aria-labelledby": "job-name" },
      el("p", {}, el("a", { href: "#/" }, "← all jobs")),
      el("h1", { id: "job-name" }, name),
      el("div", { class: "job-actions" }, runButton(name)),
      this.facts,
      el("h2", {}, "Duration of the last " + CHART_RUNS + " runs"), this.chart,
      el("h2", {}, "Runs"),
      el("table", { id: "runs" },
        el("thead", {}, el("tr", {}, ["Run", "Trigger", "Status", "Started", "Duration", "Error, output, metrics"]
          .map((h) => el("th", { scope: "col" }, h)))), this.runs),
      el("p", {}, this.more),
      el("h2", {}, "Alerts"),
      el("table", { id: "job-alerts" },
        el("thead", {}, el("tr", {}, ["Raised", "Kind", "Severity", "Summary", "Deliveries"]
          .map((h) => el("th", { scope: "col" }, h)))), this.alerts),
      el("h2", {}, "Configuration"), this.config));
  },

  async load() {
    const path = "api/jobs/" + encodeURIComponent(this.name);
    const [job, runs, alerts] = await Promise.all([
      getJson(path),
      getJson(path + "/runs?limit=" + CHART_RUNS),
      getJson("api/alerts?limit=20&job=" + encodeURIComponent(this.name)).catch(() => []),
    ]);
    const { text } = jobState(job, runs);
    const sched = scheduleWords(job.schedule, job.timezone);
    put(this.facts, 
      el("dt", {}, "Type"), el("dd", {}, job.type),
      el("dt", {}, "State"), el("dd", { class: "state" }, text),
      el("dt", {}, "Schedule"), el("dd", {}, sched.words,
        sched.words !== sched.raw ? [" ", el("code", {}, sched.raw)] : null),
      el("dt", {}, "Next run"), el("dd", {}, job.enabled && job.next_run ? timeCell(parseTime(job.next_run)) : "—"),
      el("dt", {}, "Last success"), el("dd", {}, timeCell(parseTime(job.last_success_at))),
      (job.problems || []).length > 0 ? [el("dt", {}, "Problems"), el("dd", {}, job.problems.join("; "))] : null);
    put(this.chart, durationChart(runs));
    const newest = runs.slice(0, PAGE_RUNS);
    // Rows are rebuilt only when a run changed, and an output someone opened stays open.
    const seen = JSON.stringify([newest, this.older.length]);
    if (seen !== this.seen) {
      this.seen = seen;
      const open = new Set([...this.runs.querySelectorAll("details[open]")].map(
        (d) => d.closest("tr").dataset.runId + "/" + d.firstChild.textContent));
      put(this.runs, ...newest.map(runRow), ...this.older.map(runRow));
      for (const d of this.runs.querySelectorAll("details")) {
        if (open.has(d.closest("tr").dataset.runId + "/" + d.firstChild.textContent)) d.open = true;
      }
    }
    if (this.oldest === null) this.oldest = newest.length ? newest[newest.length - 1].id : null;
    this.more.hidden = runs.length < PAGE_RUNS && this.older.length === 0;
    put(this.alerts, ...alerts.map(alertRow));
    if (!alerts.length) this.alerts.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no alerts")));
    this.config.textContent = JSON.stringify(job, null, 2);
  },

  async loadOlder() {
    if (this.oldest === null) return;
    const path = "api/jobs/" + encodeURIComponent(this.name) + "/runs?limit=" + PAGE_RUNS + "&before=" + this.oldest;
    const runs = await getJson(path);
    this.older.push(...runs);
    for (const run of runs) this.runs.append(runRow(run));
    if (runs.length) this.oldest = runs[runs.length - 1].id;
    if (runs.length < PAGE_RUNS) this.more.hidden = true;
  },
};

// ---- alerts ----

function alertRow(alert) {
  const raised = parseTime(alert.raised_at);
  return el("tr", { dataset: { alertId: String(alert.id) } },
    cell("Raised", {}, raised ? el("time", { datetime: raised.toISOString(),
                                             title: raised.toLocaleString() }, relative(raised)) : "—"),
    cell("Kind", { class: "kind" }, alert.kind, alert.job ? sub(alert.job) : null),
    cell("Severity", { class: "severity" }, alert.severity),
    cell("Summary", {}, alert.summary),
    cell("Deliveries", { class: "deliveries" },
         (alert.deliveries || []).map((d) => el("span", { class: "sub delivery", dataset: { state: d.state } },
           d.channel + ": " + d.state + (d.attempts > 1 ? " (" + d.attempts + " attempts)" : "")))));
}

const alertsView = {
  mount(app) {
    this.body = el("tbody");
    put(app, el("section", { "aria-labelledby": "alerts-title" },
      el("h1", { id: "alerts-title" }, "Alerts"),
      el("table", { id: "alerts" },
        el("thead", {}, el("tr", {}, ["Raised", "Kind", "Severity", "Summary", "Deliveries"]
          .map((h) => el("th", { scope: "col" }, h)))), this.body)));
  },
  async load() {
    const alerts = await getJson("api/alerts?limit=100");
    put(this.body, ...alerts.map(alertRow));
    if (!alerts.length) this.body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no alerts yet")));
  },
};

// ---- routing and polling ----

let current = null;
let timer = null;
let loading = false;

function route() {
  const app = document.getElementById("app");
  const hash = location.hash || "#/";
  const job = /^#\/job\/(.+)$/.exec(hash);
  let view = "jobs";
  if (job) {
    current = jobView;
    jobView.mount(app, decodeURIComponent(job[1]));
    view = "";
  } else if (hash === "#/alerts") {
    current = alertsView;
    alertsView.mount(app);
    view = "alerts";
  } else {
    current = jobsView;
    jobsView.mount(app);
  }
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  refresh();
}

let again = false;  // a refresh was asked for while one was loading

async function refresh() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  clearTimeout(timer);
  const view = current;
  try {
    await view.load();
    if (view === current) {
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = "true";
    }
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      say("unauthorized", "This jobsd wants the API token to show its jobs: paste it above.");
    } else {
      document.getElementById("updated").textContent = "not updated: " + e.message;
    }
  } finally {
    loading = false;
    timer = setTimeout(refresh, again ? 0 : POLL_MS);
    again = false;
  }
}

function saveToken() {
  const input = document.getElementById("token");
  if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
  else sessionStorage.removeItem(TOKEN_KEY);
  input.value = "";
  input.placeholder = token() ? "token saved for this tab" : "paste to run jobs";
  say("info", token() ? "Token saved for this browser tab." : "Token removed.");
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-save").addEventListener("click", saveToken);
  document.getElementById("token").addEventListener("keydown", (event) => {
    if (event.key === "Enter") saveToken();
  });
  if (token()) document.getElementById("token").placeholder = "token saved for this tab";
  window.addEventListener("hashchange", route);
  route();
});
