/**
 * A probe attempt against a server that accepts and never answers must end at its own deadline,
 * so the service's `startTimeoutMs` holds (on Node 20, `AbortSignal.any` over a bare
 * `AbortSignal.timeout` could be collected and never fire, and the start hung).
 */
import { expect, it } from "vitest";
import { Harness, type HarnessError } from "../../src/public/index.js";

const SILENT = "require('node:net').createServer(() => {}).listen(Number(process.env.PORT))";

it("an HTTP check of a silent server fails with E_HEALTH_TIMEOUT instead of hanging", async () => {
  const started = Date.now();
  const error = (await Harness.builder()
    .process("mute", { binary: process.execPath, args: ["-e", SILENT], port: 0, health: { http: "/health" }, startTimeoutMs: 300 })
    .start()
    .catch((e: unknown) => e)) as HarnessError;
  expect(error.code).toBe("E_HEALTH_TIMEOUT");
  expect(error.message).toContain("HTTP GET");
  // One attempt's own deadline (2 s) bounds it.
  expect(Date.now() - started).toBeLessThan(8_000);
}, 20_000);
