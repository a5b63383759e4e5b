import type { GraphService, PlanGraph } from "./plan-graph.js";

/**
 * Pictures of a plan's graph (plan-graph.ts): SVG (laid out here: one column per location), and
 * Mermaid and Graphviz DOT text (laid out by their tools). Pure: strings from data.
 */
export type GraphFormat = "svg" | "mermaid" | "dot";

export const GRAPH_FORMATS: readonly GraphFormat[] = ["svg", "mermaid", "dot"];

export function renderGraph(graph: PlanGraph, format: GraphFormat): string {
  switch (format) {
    case "svg":
      return renderSvg(graph);
    case "mermaid":
      return renderMermaid(graph);
    case "dot":
      return renderDot(graph);
  }
}

/** The id of a service's element in the SVG (and so on the status page). */
export function serviceElementId(service: string): string {
  return `svc-${service}`;
}

/** The id of a location's element in the SVG. */
export function groupElementId(group: string): string {
  return `loc-${group.replace(/[^A-Za-z0-9_.-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`;
}

/** What a service's tooltip says: the address each caller reaches it at. */
export function addressLines(service: GraphService): string[] {
  const lines = [`${service.name} (${service.target})`];
  lines.push(`from this host: ${service.addr ?? service.addresses.host ?? "no address"}`);
  for (const [caller, addr] of Object.entries(service.addrFor)) lines.push(`from ${caller}: ${addr}`);
  return lines;
}

// ---- SVG ----

const BOX = { width: 210, height: 56 };
const GAP_Y = 22;
const PAD = 16;
const HEADER = 30;
const COLUMN_GAP = 70;
const MARGIN = 16;
const LEGEND = 28;

interface Box {
  x: number;
  y: number;
  column: number;
}

/**
 * One column per location (a rounded frame with its label), its services stacked in start order;
 * an arrow from each service to each one it depends on. Each service is a `<g id="svc-<name>">`
 * with `data-service`, `data-state` (the page sets it) and a `<title>` that lists its addresses.
 */
export function renderSvg(graph: PlanGraph): string {
  const boxes = new Map<string, Box>();
  const columnWidth = BOX.width + 2 * PAD;
  const tallest = Math.max(1, ...graph.groups.map((g) => g.services.length));
  const frameHeight = HEADER + PAD + tallest * (BOX.height + GAP_Y) - GAP_Y + PAD;
  const width = MARGIN * 2 + Math.max(1, graph.groups.length) * columnWidth + Math.max(0, graph.groups.length - 1) * COLUMN_GAP;
  const height = MARGIN * 2 + frameHeight + LEGEND;
  graph.groups.forEach((group, column) => {
    group.services.forEach((name, row) => {
      boxes.set(name, { x: MARGIN + column * (columnWidth + COLUMN_GAP) + PAD, y: MARGIN + HEADER + PAD + row * (BOX.height + GAP_Y), column });
    });
  });
  const byName = new Map(graph.services.map((s) => [s.name, s]));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="meshbed-graph" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" data-run="${xml(graph.runId)}">`,
  );
  out.push(`<title>${xml(`meshbed run ${graph.runId}: ${graph.services.length} services`)}</title>`);
  out.push(
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>',
  );
  graph.groups.forEach((group, column) => {
    const x = MARGIN + column * (columnWidth + COLUMN_GAP);
    out.push(`<g id="${xml(groupElementId(group.id))}" class="location" data-location="${group.location}" data-group="${xml(group.id)}">`);
    out.push(`<rect class="location-frame" x="${x}" y="${MARGIN}" width="${columnWidth}" height="${frameHeight}" rx="10" fill="#f3f4f6" stroke="#d1d5db"/>`);
    out.push(`<text class="location-label" x="${x + PAD}" y="${MARGIN + 20}" font-size="13" font-weight="600" fill="#374151">${xml(clip(group.label, 30))}</text>`);
    for (const name of group.services) out.push(serviceSvg(byName.get(name)!, boxes.get(name)!));
    out.push("</g>");
  });
  out.push('<g class="edges" fill="none" stroke="#6b7280" stroke-width="1.5" stroke-linejoin="round" pointer-events="none">');
  graph.edges.forEach((edge, i) => {
    const from = boxes.get(edge.from);
    const to = boxes.get(edge.to);
    if (!from || !to) return;
    out.push(`<path id="dep-${i}" class="dependency" data-from="${xml(edge.from)}" data-to="${xml(edge.to)}" d="${edgePath(from, to, i)}" marker-end="url(#arrow)"/>`);
  });
  out.push("</g>");
  out.push(
    `<text class="legend" x="${MARGIN}" y="${height - MARGIN / 2}" font-size="11" fill="#6b7280">An arrow points from a service to one it depends on. Hover a service for its address from each caller.</text>`,
  );
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function serviceSvg(service: GraphService, box: Box): string {
  const id = xml(serviceElementId(service.name));
  const detail = `${service.target} · ${service.addr ?? service.addresses.host ?? "no port"}`;
  return [
    `<g id="${id}" class="service" data-service="${xml(service.name)}" data-target="${service.target}" data-state="planned" tabindex="0">`,
    `<title>${xml(addressLines(service).join("\n"))}</title>`,
    `<rect class="service-box" x="${box.x}" y="${box.y}" width="${BOX.width}" height="${BOX.height}" rx="7" fill="#ffffff" stroke="#9ca3af" stroke-width="1.5"/>`,
    `<text class="service-name" x="${box.x + 12}" y="${box.y + 22}" font-size="14" font-weight="600" fill="#111827">${xml(clip(service.name, 20))}</text>`,
    `<text id="${id}-state" class="service-state" x="${box.x + BOX.width - 10}" y="${box.y + 22}" font-size="11" text-anchor="end" fill="#6b7280">planned</text>`,
    `<text class="service-detail" x="${box.x + 12}" y="${box.y + 42}" font-size="11" fill="#4b5563">${xml(clip(detail, 34))}</text>`,
    "</g>",
  ].join("\n");
}

/**
 * From the dependent's box (leaving low on its side) to its dependency's (arriving high), so that
 * an arrow in and an arrow out of one box never meet. Within a column: a curve beside it. To the
 * next column: a curve across the gap. Further: along the gaps between columns and between rows
 * (rows line up across columns), so that it never crosses a box. `lane` spreads edges that share a gap.
 */
function edgePath(from: Box, to: Box, lane: number): string {
  const y1 = from.y + BOX.height * 0.68;
  const y2 = to.y + BOX.height * 0.32;
  if (from.column === to.column) {
    const x = from.x + BOX.width;
    const bulge = Math.min(PAD + COLUMN_GAP / 3, 16 + Math.abs(from.y - to.y) / 12);
    return `M${x},${y1} C${x + bulge},${y1} ${x + bulge},${y2} ${x},${y2}`;
  }
  const dir = to.column > from.column ? 1 : -1;
  const x1 = dir > 0 ? from.x + BOX.width : from.x;
  const x2 = dir > 0 ? to.x : to.x + BOX.width;
  if (Math.abs(to.column - from.column) === 1) {
    const dx = (x2 - x1) / 2;
    return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  }
  const spread = ((lane % 5) - 2) * 3;
  const gap1 = x1 + dir * (PAD + COLUMN_GAP / 2) + spread;
  const gap2 = x2 - dir * (PAD + COLUMN_GAP / 2) + spread;
  const laneY = (to.y <= from.y ? from.y - GAP_Y / 2 : from.y + BOX.height + GAP_Y / 2) + spread;
  return `M${x1},${y1} H${gap1} V${laneY} H${gap2} V${y2} H${x2}`;
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

// ---- Mermaid ----

/** A `flowchart LR` with a subgraph per location; each service's addresses as comments. */
export function renderMermaid(graph: PlanGraph): string {
  const ids = mermaidIds(graph.services.map((s) => s.name));
  const byName = new Map(graph.services.map((s) => [s.name, s]));
  const label = (text: string) => `"${text.replace(/"/g, "#quot;")}"`;
  const lines = [`%% meshbed run ${graph.runId}: an arrow points from a service to one it depends on`, "flowchart LR"];
  graph.groups.forEach((group, i) => {
    lines.push(`  subgraph g${i}[${label(group.label)}]`);
    lines.push("    direction TB");
    for (const name of group.services) {
      const service = byName.get(name)!;
      lines.push(`    ${ids.get(name)}[${label(`${name}<br/>${service.target} · ${service.addr ?? service.addresses.host ?? "no port"}`)}]`);
    }
    lines.push("  end");
  });
  for (const edge of graph.edges) lines.push(`  ${ids.get(edge.from)} --> ${ids.get(edge.to)}`);
  for (const service of graph.services) {
    for (const line of addressLines(service).slice(1)) lines.push(`  %% ${service.name} ${line}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Mermaid ids are letters, digits and `_`, and some words (`end`) are reserved: `s_<name>`, made unique. */
function mermaidIds(names: readonly string[]): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const name of names) {
    const base = `s_${name.replace(/[^A-Za-z0-9_]/g, "_")}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(name, id);
  }
  return ids;
}

// ---- DOT ----

/** A `digraph` with a cluster per location; each service's addresses as its tooltip. */
export function renderDot(graph: PlanGraph): string {
  const byName = new Map(graph.services.map((s) => [s.name, s]));
  const lines = [
    `// meshbed run ${graph.runId}: an arrow points from a service to one it depends on`,
    `digraph ${dot(`meshbed ${graph.runId}`)} {`,
    "  rankdir=LR;",
    '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="sans-serif"];',
  ];
  graph.groups.forEach((group, i) => {
    lines.push(`  subgraph cluster_${i} {`);
    lines.push(`    label=${dot(group.label)};`);
    lines.push('    style="rounded,filled"; fillcolor="#f3f4f6"; color="#d1d5db";');
    for (const name of group.services) {
      const service = byName.get(name)!;
      const label = `${dot(name).slice(0, -1)}\\n${dot(`${service.target} · ${service.addr ?? service.addresses.host ?? "no port"}`).slice(1)}`;
      lines.push(`    ${dot(name)} [label=${label}, tooltip=${dot(addressLines(service).join("\n"))}];`);
    }
    lines.push("  }");
  });
  for (const edge of graph.edges) lines.push(`  ${dot(edge.from)} -> ${dot(edge.to)};`);
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** A DOT quoted string. */
function dot(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}
