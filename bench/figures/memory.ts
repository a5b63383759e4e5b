/**
 * Memory: the peak RSS of the harness process that starts and stops 50 local services (busybox
 * httpd), each run in a fresh child process (`node --import tsx`, so the loader is in every side),
 * read from `process.resourceUsage().maxRSS`. Against the same child spawning and probing the 50
 * bare, and an idle child (the loader alone). No target.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type ComparisonRow, compare } from "../compare.js";

const sh = promisify(execFile);
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "memory-child.ts");
const SERVICES = 50;

async function peakMiB(mode: string): Promise<number> {
  const { stdout } = await sh(process.execPath, ["--import", "tsx", child, mode, String(SERVICES)], { timeout: 120_000 });
  const { maxRssKiB } = JSON.parse(stdout.trim().split("\n").at(-1)!) as { maxRssKiB: number };
  return maxRssKiB / 1024;
}

export async function run(): Promise<ComparisonRow[]> {
  return compare({
    figure: `memory: peak RSS of the harness process, ${SERVICES} services`,
    baseline: "bare spawn",
    unit: "MiB",
    sides: {
      meshbed: { run: () => peakMiB("meshbed") },
      "bare spawn": { run: () => peakMiB("bare") },
      idle: { run: () => peakMiB("idle") },
    },
    notes: {
      meshbed: `${SERVICES} busybox httpd processes started and stopped by meshbed`,
      "bare spawn": `the same ${SERVICES} spawned and probed bare`,
      idle: "node + tsx loader, nothing started",
    },
  });
}
