/**
 * Start-to-healthy of a one-process topology, against a bare `spawn` of the same program plus
 * the same TCP probe. Target: meshbed ≤ 1.15 × bare.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Harness } from "../../src/public/index.js";
import { freePort } from "../../src/host/ports.js";
import { compare } from "../compare.js";
import { probeUntilOpen } from "../probe.js";

const server = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/http-server.mjs");

export async function run() {
  return compare({
    figure: "1 process: start to healthy",
    baseline: "bare spawn",
    targets: { "bare spawn": "<=1.15" },
    sides: {
      meshbed: {
        async run() {
          const t0 = performance.now();
          const harness = await Harness.builder()
            .process("web", { binary: process.execPath, args: [server], port: 0 })
            .start();
          const ms = performance.now() - t0;
          await harness.stop();
          return ms;
        },
      },
      "bare spawn": {
        async run() {
          const t0 = performance.now();
          const port = await freePort();
          const child = spawn(process.execPath, [server], { env: { ...process.env, PORT: String(port) }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
          child.stdout.resume();
          child.stderr.resume();
          await probeUntilOpen("127.0.0.1", port);
          const ms = performance.now() - t0;
          process.kill(-child.pid!, "SIGTERM");
          await once(child, "exit");
          return ms;
        },
      },
    },
  });
}
