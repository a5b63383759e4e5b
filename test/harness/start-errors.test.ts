import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, Harness, HarnessError, StartError, type ErrorCode } from "../../src/public/index.js";
import { ProcessTracker, alive, stateDirOf, survivors } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

/** The error `attempt` fails with; fails the test if it does not fail. */
async function failure(attempt: () => unknown): Promise<HarnessError> {
  try {
    await attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(HarnessError);
    return error as HarnessError;
  }
  throw new Error("expected a HarnessError, but it succeeded");
}

function expectError(error: HarnessError, code: ErrorCode, service: string | undefined): void {
  expect(error.code, error.message).toBe(code);
  expect(error.service).toBe(service);
}

/** Nothing of the run is left: no recorded process alive, no state dir. */
async function expectNothingLeft(runId: string, pids = t.pids()): Promise<void> {
  expect(await survivors(pids, 2_000)).toEqual([]);
  expect(t.pids().filter(alive)).toEqual([]);
  expect(fs.existsSync(stateDirOf(runId))).toBe(false);
}

function holdPort(host: string): Promise<net.Server & { port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => resolve(Object.assign(server, { port: (server.address() as net.AddressInfo).port })));
  });
}

describe("errors found before anything starts", () => {
  it("refuses a dependency cycle, naming it", async () => {
    const runId = t.runId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("a", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["c"] })
        .process("b", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["a"] })
        .process("c", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["b"] })
        .process("d", t.node("http-server.mjs", { port: 0 }))
        .start(),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expectError(error, "E_DEPENDENCY_CYCLE", "a");
    expect(error.message).toContain("a -> c -> b -> a");
    expect(error.logTail).toEqual([]);
    await expectNothingLeft(runId);
  });

  it("refuses an unknown dependency, suggesting the close name", async () => {
    const runId = t.runId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["dbb"] })
        .start(),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expectError(error, "E_UNKNOWN_DEPENDENCY", "api");
    expect(error.message).toContain('"dbb"');
    expect(error.message).toContain('did you mean "db"');
    await expectNothingLeft(runId);
  });

  it("refuses a duplicate name at the builder call, and names whose variables collide", async () => {
    const builder = Harness.builder().process("api", t.node("http-server.mjs", { port: 0 }));
    // @ts-expect-error: the builder's type knows "api" already.
    const duplicate = await failure(() => builder.process("api", t.node("http-server.mjs", { port: 0 })));
    expect(duplicate).toBeInstanceOf(ConfigError);
    expectError(duplicate, "E_DUPLICATE_SERVICE", "api");
    expect(duplicate.message).toContain('"api" is defined twice');

    const colliding = await failure(() => Harness.builder().process("api-server", t.node("http-server.mjs")).process("api_server", t.node("http-server.mjs")));
    expectError(colliding, "E_DUPLICATE_SERVICE", "api_server");
    expect(colliding.message).toContain("API_SERVER_ADDR");
    // The first builder is untouched (immutable) and could still start.
    expect(builder.toSpec().services.map((s) => s.name)).toEqual(["api"]);
    expect(t.pids()).toEqual([]);
  });

  it("refuses a variable that nothing defines", async () => {
    const runId = t.runId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("api", t.node("http-server.mjs", { port: 0, env: { URL: "http://${DB_ADR}/x" } }))
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .start(),
    );
    expectError(error, "E_UNKNOWN_VARIABLE", "api");
    expect(error.message).toContain("did you mean ${DB_ADDR}");
    await expectNothingLeft(runId);
  });

  it.each(["127.0.0.1", "0.0.0.0"])("refuses a fixed port that something holds on %s", async (host) => {
    const holder = await holdPort(host);
    try {
      const runId = t.runId();
      const error = await failure(() =>
        Harness.builder({ runId })
          .process("db", t.node("http-server.mjs", { port: 0 }))
          .process("api", { ...t.node("http-server.mjs", { port: holder.port }), dependsOn: ["db"] })
          .start(),
      );
      expect(error).toBeInstanceOf(StartError);
      expectError(error, "E_PORT_IN_USE", "api");
      expect(error.message).toContain(`Port ${holder.port}`);
      expect(error.message).toContain("port: 0");
      await expectNothingLeft(runId);
      // The holder was not disturbed.
      expect(holder.listening).toBe(true);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("refuses two services on one fixed port", async () => {
    const holder = await holdPort("127.0.0.1");
    const port = holder.port;
    await new Promise((resolve) => holder.close(resolve));
    const runId = t.runId();
    const error = await failure(() => Harness.builder({ runId }).process("a", t.node("http-server.mjs", { port })).process("b", t.node("http-server.mjs", { port })).start());
    expectError(error, "E_PORT_IN_USE", "b");
    await expectNothingLeft(runId);
  });

  it("refuses a missing binary, by path or on PATH, before starting any other service", async () => {
    const runId = t.runId();
    const byPath = await failure(() =>
      Harness.builder({ runId })
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { binary: "./target/debug/no-such-server", cwd: t.dir, port: 0, dependsOn: ["db"] })
        .start(),
    );
    expect(byPath).toBeInstanceOf(StartError);
    expectError(byPath, "E_BINARY_NOT_FOUND", "api");
    expect(byPath.message).toContain(path.join(t.dir, "target/debug/no-such-server"));
    await expectNothingLeft(runId);

    const onPath = await failure(() => Harness.builder().process("tool", { binary: "meshbed-no-such-tool" }).start());
    expectError(onPath, "E_BINARY_NOT_FOUND", "tool");
    expect(onPath.message).toContain('"meshbed-no-such-tool" of service "tool" is not on PATH');

    const notExecutable = path.join(t.dir, "server.sh");
    fs.writeFileSync(notExecutable, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
    const noX = await failure(() => Harness.builder().process("tool", { binary: notExecutable }).start());
    expectError(noX, "E_BINARY_NOT_FOUND", "tool");
    expect(noX.message).toContain("chmod +x");
    expect(t.pids()).toEqual([]);
  });

  it("reports the path of a bad field of a services.yaml", async () => {
    const file = path.join(t.dir, "services.yaml");
    fs.writeFileSync(file, ["services:", "  api:", "    target:", "      process:", "        binary: 42", "    port: 0", ""].join("\n"));
    const error = await failure(() => Harness.fromFile(file));
    expect(error).toBeInstanceOf(ConfigError);
    expectError(error, "E_CONFIG", "api");
    expect(error.message).toContain("services.api.target.process.binary");
    expect(error.message).toContain("`42` (number)");

    fs.writeFileSync(file, ["services:", "  api:", "    target:", "      process:", "        binray: /bin/true", ""].join("\n"));
    const typo = await failure(() => Harness.fromFile(file));
    expect(typo.message).toContain("services.api.target.process.binray");
    expect(typo.message).toContain("did you mean `binary`");
    expect(t.pids()).toEqual([]);
  });
});

describe("errors found while starting, after other services started", () => {
  it("reports an early exit with its code and log, and stops the services already started", async () => {
    const runId = t.runId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { ...t.node("exit-early.mjs", { port: 0 }), dependsOn: ["db"] })
        .start(),
    );
    expect(error).toBeInstanceOf(StartError);
    expectError(error, "E_EARLY_EXIT", "api");
    expect(error.message).toContain("exited with code 3");
    expect(error.logTail).toEqual(["reading config", "fatal: config file /etc/nothing.conf not found"]);
    expect(error.message).toContain("| fatal: config file /etc/nothing.conf not found");
    // db had started and was healthy: it was stopped.
    const db = t.pids("db");
    expect(db).toHaveLength(1);
    await expectNothingLeft(runId);
  });

  it("reports a health check that never passes, with the last answer and the log", async () => {
    const runId = t.runId();
    const started = Date.now();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { ...t.node("http-server.mjs", { port: 0, health: { http: "/ready" }, startTimeoutMs: 700 }), dependsOn: ["db"] })
        .start(),
    );
    expectError(error, "E_HEALTH_TIMEOUT", "api");
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(error.message).toContain("within 700 ms");
    expect(error.message).toContain("it answered 404");
    expect(error.logTail).toEqual([expect.stringMatching(/^api listening on \d+$/)]);
    expect(t.pids()).toHaveLength(2);
    await expectNothingLeft(runId);
  });

  it("abandons a slow sibling when another service of its level fails, and reports the failure, not the abandonment", async () => {
    const runId = t.runId();
    const started = Date.now();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("slow", t.node("late-ready.mjs", { env: { READY_DELAY_MS: "30000" }, health: { logLine: "ready to serve" } }))
        // Fails once the slow one surely runs.
        .process("broken", { binary: "sh", args: ["-c", "sleep 0.5; echo 'fatal: no config' >&2; exit 3"], port: 0 })
        .process("after", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["slow"] })
        .start(),
    );
    expectError(error, "E_EARLY_EXIT", "broken");
    expect(error.logTail).toEqual(["fatal: no config"]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(t.pids("slow")).toHaveLength(1);
    // The dependent never started.
    expect(t.pids("after")).toEqual([]);
    await expectNothingLeft(runId);
  });

  it("gives up when the start's `timeoutMs` passes, stopping what started", async () => {
    const runId = t.runId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { ...t.node("late-ready.mjs", { env: { READY_DELAY_MS: "30000" }, health: { logLine: "ready to serve" } }), dependsOn: ["db"] })
        .start({ timeoutMs: 1_000 }),
    );
    expect(error).toBeInstanceOf(StartError);
    expectError(error, "E_START_TIMEOUT", undefined);
    expect(error.message).toContain("timeoutMs");
    expect(t.pids()).toHaveLength(2);
    await expectNothingLeft(runId);
  });

  it("stops what started when the start's signal is aborted", async () => {
    const runId = t.runId();
    const abort = new AbortController();
    const starting = Harness.builder({ runId })
      .process("db", t.node("http-server.mjs", { port: 0 }))
      .process("api", { ...t.node("late-ready.mjs", { env: { READY_DELAY_MS: "30000" }, health: { logLine: "ready to serve" } }), dependsOn: ["db"] })
      .start({
        signal: abort.signal,
        // Abort once api runs (it has recorded its pid), whatever time its Node takes to boot.
        onEvent: (e) => e.service === "api" && e.state === "starting" && void t.waitForPids("api", 1).then(() => abort.abort()),
      });
    const error = await failure(() => starting);
    expectError(error, "E_START_ABORTED", undefined);
    expect(t.pids()).toHaveLength(2);
    await expectNothingLeft(runId);
  });
});
