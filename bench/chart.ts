/**
 * The start-vs-services chart: median start-to-healthy time against the number of services, one
 * line per series, both axes logarithmic (1 to 50 services, tens of ms to seconds). Hand-written
 * SVG: no dependency, readable in a browser and on GitHub.
 */
import type { ComparisonRow } from "./compare.js";

const W = 760;
const H = 440;
const M = { left: 64, right: 250, top: 40, bottom: 48 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"];

export function startChart(rows: readonly ComparisonRow[], subtitle: string): string {
  const points = rows.filter((r) => r.series !== undefined && r.services !== undefined && r.medianMs > 0);
  const series = [...new Set(points.map((r) => r.series!))];
  const xs = points.map((r) => r.services!);
  const ys = points.map((r) => r.medianMs);
  const x0 = 1;
  const x1 = Math.max(10, ...xs);
  const y0 = 10 ** Math.floor(Math.log10(Math.min(10, ...ys)));
  const y1 = 10 ** Math.ceil(Math.log10(Math.max(100, ...ys)));
  const at = (v: number) => Math.round(v * 10) / 10;
  const px = (x: number) => at(M.left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (W - M.left - M.right));
  const py = (y: number) => at(H - M.bottom - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * (H - M.top - M.bottom));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="18" font-size="15" font-weight="bold">Start to all healthy vs number of services (median, log–log)</text>`,
    `<text x="${M.left}" y="33" fill="#555">${escapeXml(subtitle)}</text>`,
  ];
  for (let d = y0; d <= y1; d *= 10) {
    for (const m of [1, 2, 5]) {
      const y = d * m;
      if (y > y1) break;
      out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
      out.push(`<text x="${M.left - 6}" y="${py(y) + 4}" text-anchor="end">${y >= 1000 ? `${y / 1000} s` : `${y} ms`}</text>`);
    }
  }
  const ticks = [...new Set([1, 5, 10, 50, ...xs])].filter((x) => x <= x1).sort((a, b) => a - b);
  for (const x of ticks) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">services</text>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`);
  series.forEach((name, i) => {
    const color = COLORS[i % COLORS.length]!;
    const line = points.filter((r) => r.series === name).sort((a, b) => a.services! - b.services!);
    // Solid: started by meshbed (the processes figure's "containers" side is meshbed with docker services).
    const ours = /: (meshbed|containers)$/.test(name);
    const dash = ours ? "" : ` stroke-dasharray="5 3"`;
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${line.map((r) => `${px(r.services!)},${py(r.medianMs)}`).join(" ")}"/>`);
    for (const r of line) {
      out.push(
        `<circle cx="${px(r.services!)}" cy="${py(r.medianMs)}" r="3.5" fill="${color}"><title>${escapeXml(`${name}, ${r.services} services: ${r.medianMs} ms (min ${r.minMs}, max ${r.maxMs}, ${r.runs} runs)`)}</title></circle>`,
      );
    }
    const ly = M.top + 8 + i * 18;
    out.push(`<line x1="${W - M.right + 14}" x2="${W - M.right + 38}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    const label = name === "processes: containers" ? "processes, as containers: meshbed" : name;
    out.push(`<text x="${W - M.right + 44}" y="${ly + 4}">${escapeXml(label)}</text>`);
  });
  out.push("</svg>", "");
  return out.join("\n");
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
