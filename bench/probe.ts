import { setTimeout as sleep } from "node:timers/promises";
import { tcpCheck } from "../src/health/probes.js";

/** The same TCP probe schedule meshbed uses: first try at once, gaps doubling 2 → 100 ms. */
export async function probeUntilOpen(host: string, port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  const signal = new AbortController().signal;
  while ((await tcpCheck(host, port, signal)) !== true) {
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not open within ${timeoutMs} ms`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}
