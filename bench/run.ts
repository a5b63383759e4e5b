/**
 * `npm run bench [figure…]`: runs every figure in bench/figures (or the named ones), prints a
 * table, and writes bench/results.json, bench/RESULTS.md and bench/start-vs-services.svg. Results
 * are merged by figure: rerunning one figure replaces its rows and keeps the others'.
 * `npm run bench -- --report` runs nothing and writes RESULTS.md and the chart from results.json.
 * Ratios, not absolute times, are what to read: these machines are shared and noisy.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startChart } from "./chart.js";
import type { ComparisonRow } from "./compare.js";

interface FigureResult {
  date: string;
  machine: string;
  rows: ComparisonRow[];
  error?: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsFile = path.join(here, "results.json");
const reportOnly = process.argv.includes("--report");
const wanted = process.argv.slice(2).filter((a) => a !== "--report");
/** Figures kept beside this file rather than in figures/, because they also run alone (`npx tsx bench/<name>.ts`). */
const standalone = ["edge-proxy"];
const all = [
  ...fs
    .readdirSync(path.join(here, "figures"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.slice(0, -3)),
  ...standalone,
].sort();
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`bench: no figure ${unknown.map((u) => `"${u}"`).join(", ")}; figures: ${all.join(", ")}`);
  process.exit(2);
}
const figures = reportOnly ? [] : wanted.length > 0 ? wanted : all;
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, Linux ${os.release()}`;

// Earlier results of the figures not run now are kept (a results.json of the old format is dropped).
const previous = (() => {
  try {
    const data = JSON.parse(fs.readFileSync(resultsFile, "utf8")) as { figures?: Record<string, FigureResult> };
    return data.figures ?? {};
  } catch {
    return {};
  }
})();
const results: Record<string, FigureResult> = Object.fromEntries(Object.entries(previous).filter(([name]) => all.includes(name)));

for (const name of figures) {
  console.error(`bench: ${name}…`);
  const started = Date.now();
  try {
    const figure = (await import(standalone.includes(name) ? `./${name}.ts` : `./figures/${name}.ts`)) as { run: () => Promise<ComparisonRow[]> };
    const rows = await figure.run();
    results[name] = { date: new Date().toISOString(), machine, rows };
    for (const row of rows) {
      console.error(`  ${row.figure} | ${row.side.padEnd(16)} median ${row.medianMs} ${row.unit ?? "ms"}  ratio ${row.ratio}${row.target ? `  ${row.target} ${row.met ? "MET" : "NOT MET"}` : ""}`);
    }
  } catch (error) {
    results[name] = { date: new Date().toISOString(), machine, rows: [], error: (error as Error).stack ?? String(error) };
    console.error(`  failed: ${(error as Error).stack ?? error}`);
  }
  console.error(`  (${name}: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

const ordered = all.filter((name) => results[name]).map((name) => [name, results[name]!] as const);
fs.writeFileSync(resultsFile, JSON.stringify({ figures: Object.fromEntries(ordered) }, null, 2));

const cell = (r: ComparisonRow, v: number) => `${v}${r.unit ? ` ${r.unit}` : ""}`;
/** Each target of a row with its own verdict: "vs dockerode: 1.2 (target <= 1.05: NOT met)". */
const targets = (r: ComparisonRow) =>
  (r.target ?? "")
    .split("; ")
    .filter(Boolean)
    .map((part) => {
      const m = /^vs (.+): ([\d.]+) \(target (<=|>=) ([\d.]+)\)$/.exec(part);
      if (!m) return part;
      const met = m[3] === ">=" ? Number(m[2]) >= Number(m[4]) : Number(m[2]) <= Number(m[4]);
      return `vs ${m[1]}: ${m[2]} (target ${m[3]} ${m[4]}: ${met ? "met" : "**NOT met**"})`;
    })
    .join("; ");
const table = [
  "| figure | side | runs | median | min | max | ratio to baseline | target (meshbed) |",
  "|---|---|---|---|---|---|---|---|",
  ...ordered.flatMap(([, f]) =>
    f.rows.map(
      (r) =>
        `| ${r.figure} | ${r.side}${r.note ? ` (${r.note})` : ""} | ${r.runs} | ${cell(r, r.medianMs)} | ${cell(r, r.minMs)} | ${cell(r, r.maxMs)} | ${r.ratio} (÷ ${r.baseline}) | ${targets(r)} |`,
    ),
  ),
];
const dates = ordered.map(([, f]) => f.date).sort();
const machines = [...new Set(ordered.map(([, f]) => f.machine))];
const md = [
  "# Benchmark results",
  "",
  `Runs from ${dates[0] ?? "-"} to ${dates.at(-1) ?? "-"} on ${machines.join("; ")}. Times in ms unless a unit is given; how to read them: [README.md](README.md).`,
  "",
  "![start to all healthy vs number of services](start-vs-services.svg)",
  "",
  ...table,
  "",
];
const failed = ordered.filter(([, f]) => f.error);
if (failed.length) md.push("## Figures that failed", "", ...failed.map(([name, f]) => `- ${name}: ${f.error!.split("\n")[0]}`), "");
fs.writeFileSync(path.join(here, "RESULTS.md"), md.join("\n"));
fs.writeFileSync(
  path.join(here, "start-vs-services.svg"),
  startChart(
    ordered.flatMap(([, f]) => f.rows),
    `${machines[0] ?? machine}`,
  ),
);
console.log(table.join("\n"));
if (failed.some(([name]) => figures.includes(name))) process.exitCode = 1;
