/**
 * Waits, outside the timing, until the machine is quiet: the CPUs' busy share over 100 ms below a
 * quarter, for at most 3 s. A side that stops containers leaves the engine working on for a few
 * hundred ms after its calls return (networks, iptables, mounts, shims): without a wait that work
 * lands in the timing of whichever side runs next.
 */
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const WINDOW_MS = 100;
const BUSY_BELOW = 0.25;
const AT_MOST_MS = 3_000;

export async function quiet(): Promise<void> {
  const deadline = performance.now() + AT_MOST_MS;
  let before = cpuTimes();
  while (performance.now() < deadline) {
    await sleep(WINDOW_MS);
    const now = cpuTimes();
    const total = now.total - before.total;
    const busy = total - (now.idle - before.idle);
    before = now;
    if (total > 0 && busy / total < BUSY_BELOW) return;
  }
}

/** The first line of /proc/stat: jiffies of all CPUs, and those idle (idle + iowait). */
function cpuTimes(): { total: number; idle: number } {
  const fields = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: fields.reduce((a, b) => a + b, 0), idle: (fields[3] ?? 0) + (fields[4] ?? 0) };
}
