import type { PlanGraph } from "../plan/plan-graph.js";

/**
 * The status page: one HTML document with its CSS and script inline (no build step, nothing
 * fetched but this server's own `/events` and `/services/<name>/logs`). The topology is the SVG
 * of graph-formats.ts, drawn on the server; the script colours each service by its state (the
 * `data-state` of its `<g id="svc-<name>">`) as `/events` reports it, lists the events, and shows
 * the log of the service clicked, live. Hovering a service shows its address from each caller
 * (the SVG's `<title>`); the selected one's addresses are listed beside its log.
 */
export function renderStatusPage(graph: PlanGraph, svg: string): string {
  // In a <script> element nothing may read as `</script>` or `<!--`: `<` is written as \u003c.
  const data = JSON.stringify(graph).replace(/</g, "\\u003c");
  const title = `meshbed run ${graph.runId}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>${html(title)}</h1>
  <span id="summary" class="badge" data-healthy="false">connecting…</span>
  <span id="connection" class="badge" data-connected="false">connecting</span>
</header>
<main>
  <section id="graph" aria-label="topology">${svg}</section>
  <div class="panels">
    <section id="logs">
      <h2>Log of <span id="log-service">— click a service</span></h2>
      <ul id="log-addresses"></ul>
      <pre id="log" aria-live="polite"></pre>
    </section>
    <aside>
      <h2>Events</h2>
      <ol id="events"></ol>
    </aside>
  </div>
</main>
<script type="application/json" id="graph-data">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function html(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

const STYLE = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; }
body { margin: 0; background: #fff; }
header { display: flex; gap: 12px; align-items: center; padding: 10px 16px; border-bottom: 1px solid #e5e7eb; }
h1 { font-size: 17px; margin: 0; }
h2 { font-size: 14px; margin: 0 0 6px; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #f3f4f6; color: #374151; }
#summary[data-healthy="true"] { background: #dcfce7; color: #166534; }
#summary[data-healthy="false"] { background: #fef3c7; color: #92400e; }
#connection[data-connected="false"] { background: #fee2e2; color: #991b1b; }
main { padding: 12px 16px; }
#graph { overflow-x: auto; margin-bottom: 12px; }
#graph svg { display: block; }
.panels { display: flex; gap: 16px; align-items: flex-start; }
#logs { flex: 1 1 0; min-width: 0; }
aside { flex: 0 0 340px; max-height: 340px; overflow-y: auto; }
#events { list-style: none; margin: 0; padding: 0; font: 12px ui-monospace, monospace; }
#events li { padding: 2px 4px; border-left: 3px solid #d1d5db; margin-bottom: 2px; white-space: pre-wrap; }
#events li[data-state="healthy"] { border-color: #16a34a; }
#events li[data-state="starting"] { border-color: #d97706; }
#events li[data-state="failed"], #events li[data-state="exited"] { border-color: #dc2626; }
#events li[data-state="fault"] { border-color: #7c3aed; }
#log-addresses { margin: 0 0 6px; padding-left: 18px; font-size: 12px; color: #374151; }
#log { background: #111827; color: #e5e7eb; font: 12px/1.45 ui-monospace, monospace; padding: 8px 10px; height: 260px; overflow: auto; margin: 0; border-radius: 6px; }
#log .stderr { color: #fca5a5; }
.service { cursor: pointer; }
.service:focus { outline: none; }
.service[aria-selected="true"] .service-box, .service:focus .service-box { stroke-width: 3; }
.service[data-state="waiting"] .service-box, .service[data-state="planned"] .service-box { fill: #f9fafb; stroke: #9ca3af; }
.service[data-state="starting"] .service-box { fill: #fef3c7; stroke: #d97706; }
.service[data-state="healthy"] .service-box { fill: #dcfce7; stroke: #16a34a; }
.service[data-state="paused"] .service-box { fill: #dbeafe; stroke: #2563eb; }
.service[data-state="failed"] .service-box, .service[data-state="exited"] .service-box { fill: #fee2e2; stroke: #dc2626; }
.service[data-state="stopping"] .service-box, .service[data-state="stopped"] .service-box { fill: #e5e7eb; stroke: #6b7280; }
.service[data-fault] .service-box { stroke: #7c3aed; stroke-dasharray: 5 3; }
`;

// Plain browser JavaScript, as the page runs it: no build step, no framework.
const SCRIPT = `
"use strict";
const graph = JSON.parse(document.getElementById("graph-data").textContent);
const byName = new Map(graph.services.map((s) => [s.name, s]));
const states = new Map();
const MAX_EVENTS = 200;
const MAX_LOG_LINES = 1000;
let selected = null;
let pending = null;

const $ = (id) => document.getElementById(id);
const nodeOf = (name) => $("svc-" + name);

function setState(name, state) {
  const node = nodeOf(name);
  if (!node) return;
  states.set(name, state);
  node.setAttribute("data-state", state);
  const label = $("svc-" + name + "-state");
  if (label) label.textContent = state;
  summarize();
}

function summarize() {
  const healthy = graph.services.filter((s) => states.get(s.name) === "healthy").length;
  const summary = $("summary");
  summary.textContent = healthy + " of " + graph.services.length + " healthy";
  summary.setAttribute("data-healthy", String(healthy === graph.services.length));
}

function describe(event) {
  let text = new Date().toLocaleTimeString() + "  " + event.service + "  " + event.state;
  if (event.exitSignal) text += " (" + event.exitSignal + ")";
  else if (event.exitCode !== undefined && event.exitCode !== null) text += " (code " + event.exitCode + ")";
  if (event.error && event.error.message) text += " — " + event.error.message.split("\\n")[0];
  return text;
}

function addEvent(event) {
  const item = document.createElement("li");
  item.setAttribute("data-state", String(event.state));
  item.setAttribute("data-service", String(event.service));
  item.textContent = describe(event);
  const list = $("events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function appendLog(line) {
  const log = $("log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const row = document.createElement("div");
  row.className = line.stream;
  row.textContent = line.line;
  log.append(row);
  while (log.children.length > MAX_LOG_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

async function select(name) {
  const service = byName.get(name);
  if (!service) return;
  for (const node of document.querySelectorAll(".service[aria-selected]")) node.removeAttribute("aria-selected");
  nodeOf(name).setAttribute("aria-selected", "true");
  selected = name;
  $("log-service").textContent = name + " (" + service.target + ")";
  const addresses = $("log-addresses");
  addresses.replaceChildren();
  const lines = ["from this host: " + (service.addr || (service.addresses && service.addresses.host) || "no address")];
  for (const [caller, addr] of Object.entries(service.addrFor)) lines.push("from " + caller + ": " + addr);
  for (const text of lines) {
    const item = document.createElement("li");
    item.textContent = text;
    addresses.append(item);
  }
  $("log").replaceChildren();
  // Lines that arrive while the tail is on its way are kept, and shown after it.
  pending = [];
  try {
    const response = await fetch("services/" + encodeURIComponent(name) + "/logs?tail=200");
    const tail = response.ok ? await response.json() : [];
    if (selected !== name) return;
    for (const line of tail) appendLog(line);
    const last = tail.length > 0 ? tail[tail.length - 1].time : "";
    for (const line of pending) if (line.time > last) appendLog(line);
  } finally {
    if (selected === name) pending = null;
  }
}

for (const node of document.querySelectorAll(".service")) {
  const name = node.getAttribute("data-service");
  node.addEventListener("click", () => select(name));
  node.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") select(name);
  });
}

const source = new EventSource("events");
source.addEventListener("open", () => {
  $("connection").textContent = "live";
  $("connection").setAttribute("data-connected", "true");
});
source.addEventListener("error", () => {
  $("connection").textContent = "disconnected: the run has stopped, or its harness is gone";
  $("connection").setAttribute("data-connected", "false");
});
source.addEventListener("state", (message) => {
  const event = JSON.parse(message.data);
  const node = nodeOf(event.service);
  // Faults change how a service is reached, not whether it runs.
  if (event.state === "fault") {
    if (node) node.setAttribute("data-fault", JSON.stringify(event.fault === undefined ? true : event.fault));
  } else if (event.state === "healed") {
    if (node) node.removeAttribute("data-fault");
  } else {
    setState(event.service, event.state);
  }
  if (!event.current) addEvent(event);
});
source.addEventListener("log", (message) => {
  const line = JSON.parse(message.data);
  if (line.service !== selected) return;
  if (pending) pending.push(line);
  else appendLog(line);
});
`;
