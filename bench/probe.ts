import { setTimeout as sleep } from "node:timers/promises";
import { checkGap } from "../src/health/check-gap.js";
import { tcpCheck } from "../src/health/probes.js";

/** The same TCP probe schedule meshbed uses: first try at once, then `checkGap` (a quarter of the time waited, 2 → 100 ms). */
export async function probeUntilOpen(host: string, port: number, timeoutMs = 30_000): Promise<void> {
  const began = Date.now();
  const deadline = began + timeoutMs;
  const signal = new AbortController().signal;
  while ((await tcpCheck(host, port, signal)) !== true) {
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not open within ${timeoutMs} ms`);
    await sleep(checkGap(Date.now() - began));
  }
}
