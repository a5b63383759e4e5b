import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, HarnessError, type HarnessEvent } from "../../src/public/index.js";
import { ProcessTracker, alive, survivors } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

function connects(addr: string): Promise<boolean> {
  const i = addr.lastIndexOf(":");
  return new Promise((resolve) => {
    const socket = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function startFailure(start: () => Promise<unknown>): Promise<HarnessError> {
  const error = await start().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HarnessError);
  return error as HarnessError;
}

async function lines(harness: Harness, service: string): Promise<string[]> {
  const result: string[] = [];
  for await (const line of harness.service(service).logs()) result.push(line.line);
  return result;
}

describe("health checks", () => {
  it("waits for a TCP connection by default when the service has a port", async () => {
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "400" } }))
        .start(),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(await connects(harness.services.db.addr!)).toBe(true);
    await harness.stop();
  });

  it("waits for an HTTP answer with an accepted status", async () => {
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("ok", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "300" }, health: { http: "/health" } }))
        .process("missing", t.node("http-server.mjs", { port: 0, health: { http: "/nothing-here", status: 404 } }))
        .process("either", t.node("http-server.mjs", { port: 0, health: { http: "/health", status: [204, 200] } }))
        .start(),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    for (const name of ["ok", "missing", "either"] as const) expect((await harness.services[name].status()).state).toBe("healthy");
    await harness.stop();
  });

  it("does not take a bare TCP listener for an HTTP server", async () => {
    const error = await startFailure(() =>
      Harness.builder()
        .process("raw", t.node("ignore-sigterm.mjs", { port: 0, health: { http: "/health" }, startTimeoutMs: 500, stopTimeoutMs: 200 }))
        .start(),
    );
    expect(error.code).toBe("E_HEALTH_TIMEOUT");
    expect(error.message).toContain("request failed");
    expect(error.logTail).toContain("ready");
    expect(await survivors(t.pids(), 2_000)).toEqual([]);
  });

  it("runs a health command with the service's env until it exits 0", async () => {
    const marker = path.join(t.dir, "ready-marker");
    const counter = path.join(t.dir, "checks");
    const timer = setTimeout(() => fs.writeFileSync(marker, ""), 600);
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("worker", t.node("late-ready.mjs", { env: { MARKER: marker, COUNTER: counter }, health: { command: ["sh", "-c", 'echo >> "$COUNTER"; test -f "$MARKER"'] } }))
        .start()
        .finally(() => clearTimeout(timer)),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    // Backoff: checked often at first, then every 100 ms; not hundreds of times.
    const checks = fs.readFileSync(counter, "utf8").split("\n").length - 1;
    expect(checks).toBeGreaterThanOrEqual(5);
    expect(checks).toBeLessThanOrEqual(25);
    expect((await harness.services.worker.status()).state).toBe("healthy");
    await harness.stop();
  });

  it("reports a health command that cannot run", async () => {
    const error = await startFailure(() =>
      Harness.builder()
        .process("worker", t.node("late-ready.mjs", { health: { command: ["meshbed-no-such-check"] }, startTimeoutMs: 300 }))
        .start(),
    );
    expect(error.code).toBe("E_HEALTH_TIMEOUT");
    expect(error.message).toContain('command ["meshbed-no-such-check"]');
    expect(error.message).toContain("exited with code 127");
    expect(await survivors(t.pids(), 2_000)).toEqual([]);
  });

  it.each([
    ["a string", "ready to serve"],
    ["a RegExp", /^ready to \w+$/],
  ])("waits for a log line matching %s", async (_, logLine) => {
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("late", t.node("late-ready.mjs", { env: { READY_DELAY_MS: "400" }, health: { logLine } }))
        .start(),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(await lines(harness, "late")).toEqual(["warming up", "ready to serve"]);
    await harness.stop();
  });

  it("fails at once, not at the deadline, when the service exits while its log line is awaited", async () => {
    const started = Date.now();
    const error = await startFailure(() =>
      Harness.builder()
        .process("broken", t.node("exit-early.mjs", { health: { logLine: "never printed" }, startTimeoutMs: 30_000 }))
        .start(),
    );
    expect(error.code).toBe("E_EARLY_EXIT");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("takes a service without port and without health as ready once it runs", async () => {
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("worker", t.node("late-ready.mjs", { env: { READY_DELAY_MS: "30000" } }))
        .start(),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    const status = await harness.services.worker.status();
    expect(status.state).toBe("healthy");
    expect(alive(status.pid!)).toBe(true);
    expect(harness.services.worker.addr).toBeUndefined();
    expect(harness.envFor("worker").PORT).toBeUndefined();
    await harness.stop();
  });

  it("checks for the first time at once", async () => {
    const probed = path.join(t.dir, "probed");
    const events: (HarnessEvent & { at: number })[] = [];
    const harness = t.adopt(
      await Harness.builder()
        .process("quick", { binary: "sleep", args: ["30"], env: { ...t.env(), PROBED: probed }, health: { command: ["sh", "-c", 'date +%s%3N >> "$PROBED"'] } })
        .start({ onEvent: (e) => events.push({ ...e, at: Date.now() }) }),
    );
    t.watch((await harness.services.quick.status()).pid!);
    const starting = events.find((e) => e.state === "starting")!.at;
    const healthy = events.find((e) => e.state === "healthy")!.at;
    const checks = fs.readFileSync(probed, "utf8").trim().split("\n").map(Number);
    // Healthy at the first check, and that check ran right after the spawn: no initial wait.
    expect(checks).toHaveLength(1);
    expect(checks[0]! - starting).toBeLessThan(100);
    expect(healthy - starting).toBeLessThan(150);
    await harness.stop();
  });

  it("sees a server that listens at once within the first backoff steps", async () => {
    const events: (HarnessEvent & { at: number })[] = [];
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .start({ onEvent: (e) => events.push({ ...e, at: Date.now() }) }),
    );
    let listening: number | undefined;
    // The probe may connect before the server's "listening" line is read from its stdout: wait for it.
    await expect
      .poll(
        async () => {
          for await (const line of harness.services.db.logs()) if (line.line.includes("listening")) listening = line.time.getTime();
          return listening;
        },
        { timeout: 5_000, interval: 10 },
      )
      .toBeDefined();
    const healthy = events.find((e) => e.state === "healthy")!.at;
    // The gaps between checks never exceed 100 ms.
    expect(healthy - listening!).toBeLessThan(150);
    await harness.stop();
  });
});
