/**
 * Run by figures/memory.ts in a child process of its own: starts 50 busybox httpd services (with
 * meshbed, or bare), stops them, and prints the process's peak RSS (`resourceUsage().maxRSS`, KiB).
 * `idle` only loads the module loader: the floor every side shares.
 */
import { BareProcess, startProcesses } from "./topologies.js";

const [mode = "meshbed", count = "50"] = process.argv.slice(2);
const n = Number(count);
if (mode === "meshbed") {
  const harness = await startProcesses(n);
  await harness.stop();
} else if (mode === "bare") {
  const services = Array.from({ length: n }, () => new BareProcess());
  await Promise.all(services.map((s) => s.start()));
  await Promise.all(services.map((s) => s.stop()));
}
process.stdout.write(`${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS })}\n`);
