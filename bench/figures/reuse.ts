/**
 * `reuse: true`: what a second test run pays to attach to the topology the first one left running,
 * against a fresh start of the same topology (in-process, no owner). Target: attach ≤ 0.05 × fresh.
 * The attach reads the run's records from its state dir: no process is spawned, no probe is made.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Harness } from "../../src/public/index.js";
import { compare } from "../compare.js";

const server = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/http-server.mjs");

function topology(options: { reuse?: boolean } = {}) {
  return Harness.builder(options)
    .process("bench-reuse-db", { binary: process.execPath, args: [server], port: 0, health: { http: "/health" } })
    .process("bench-reuse-api", { binary: process.execPath, args: [server], port: 0, dependsOn: ["bench-reuse-db"], health: { http: "/health" } });
}

export async function run() {
  let runId: string | undefined;
  try {
    return await compare({
      figure: "reuse: start of a 2-process topology a run left up",
      baseline: "fresh start",
      targets: { "fresh start": "<=0.05" },
      notes: { meshbed: "attach (`reuse: true`, the run already up in its owner)", "fresh start": "the same topology started in-process" },
      sides: {
        meshbed: {
          async run() {
            const t0 = performance.now();
            const harness = await topology({ reuse: true }).start();
            const ms = performance.now() - t0;
            runId = harness.runId;
            await harness.stop();
            return ms;
          },
        },
        "fresh start": {
          async run() {
            const t0 = performance.now();
            const harness = await topology().start();
            const ms = performance.now() - t0;
            await harness.stop();
            return ms;
          },
        },
      },
    });
  } finally {
    // As `meshbed down` does: the owner is asked to stop, and its run dir goes with it.
    if (runId) {
      const dir = path.join(os.tmpdir(), `harness-${runId}`);
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")) as { pid: number };
      process.kill(pid, "SIGTERM");
      while (fs.existsSync(dir)) await sleep(20);
      fs.rmSync(path.join(os.tmpdir(), `meshbed-up-${runId}.log`), { force: true });
    }
  }
}
