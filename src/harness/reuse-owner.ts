// The detached owner of a reusable run (`reuse: true`, reuse.ts): started by the first `start()` that
// found no live run of its topology, it starts the topology, records it for later `start()`s to
// attach to, and keeps it up until SIGTERM (`meshbed down`, or a later start whose topology changed).
import fs from "node:fs";
import { Harness } from "./harness.js";
import { actAsReuseOwner, writeOwnerFailure } from "./reuse.js";
import { jsonRevive } from "./topology-hash.js";
import type { TopologySpec } from "../topology/types.js";

const [specFile, runId, timeout] = process.argv.slice(2) as [string, string, string | undefined];
actAsReuseOwner();
const spec = JSON.parse(fs.readFileSync(specFile, "utf8"), jsonRevive) as TopologySpec;
fs.rmSync(specFile, { force: true });

const stopRequested = new AbortController();
const onSignal = () => stopRequested.abort();
// Persistent listeners: they tell the harness's exit hooks that this process decides when it exits.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);

try {
  const harness = await Harness.fromSpec(spec)
    .withOptions({ runId })
    .start({ signal: stopRequested.signal, ...(timeout !== undefined && { timeoutMs: Number(timeout) }) });
  console.log(`Run ${runId} is up (reuse: true); \`meshbed down ${runId}\` stops it.`);
  // The harness keeps nothing of this process alive (its timers and children are unref'd): this does, until told to stop.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  await new Promise((resolve) => stopRequested.signal.addEventListener("abort", resolve, { once: true }));
  clearInterval(keepAlive);
  await harness.stop();
  process.exit(0);
} catch (error) {
  writeOwnerFailure(runId, error);
  console.error((error as Error).stack ?? String(error));
  process.exit(1);
}
