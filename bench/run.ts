/**
 * `npm run bench [figure…]`: runs every figure in bench/figures (or the named ones), prints a
 * table, and writes bench/results.json and bench/RESULTS.md. Ratios, not absolute times, are
 * what to read: these machines are shared and noisy.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ComparisonRow } from "./compare.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const all = fs.readdirSync(path.join(here, "figures")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3)).sort();
const figures = wanted.length > 0 ? wanted : all;

const rows: ComparisonRow[] = [];
const failures: { figure: string; error: string }[] = [];
for (const name of figures) {
  console.error(`bench: ${name}…`);
  try {
    const figure = (await import(`./figures/${name}.ts`)) as { run: () => Promise<ComparisonRow[]> };
    const result = await figure.run();
    rows.push(...result);
    for (const row of result) console.error(`  ${row.side.padEnd(16)} median ${row.medianMs} ms  ratio ${row.ratio}${row.target ? `  ${row.target} ${row.met ? "MET" : "NOT MET"}` : ""}`);
  } catch (error) {
    failures.push({ figure: name, error: (error as Error).stack ?? String(error) });
    console.error(`  failed: ${(error as Error).message}`);
  }
}

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.release()}`;
fs.writeFileSync(path.join(here, "results.json"), JSON.stringify({ date: new Date().toISOString(), machine, rows, failures }, null, 2));
const table = [
  "| figure | side | runs | median ms | min | max | ratio to baseline | target (meshbed) |",
  "|---|---|---|---|---|---|---|---|",
  ...rows.map((r) => `| ${r.figure} | ${r.side}${r.note ? ` (${r.note})` : ""} | ${r.runs} | ${r.medianMs} | ${r.minMs} | ${r.maxMs} | ${r.ratio} (÷ ${r.baseline}) | ${r.target ? `${r.target}: ${r.met ? "met" : "NOT met"}` : ""} |`),
];
const md = [`# Benchmark results`, "", `${new Date().toISOString()} — ${machine}`, "", ...table, ""];
if (failures.length) md.push("## Figures that failed", "", ...failures.map((f) => `- ${f.figure}: ${f.error.split("\n")[0]}`), "");
fs.writeFileSync(path.join(here, "RESULTS.md"), md.join("\n"));
console.log(table.join("\n"));
if (failures.length) process.exitCode = 1;
