import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, Harness, type ServiceState } from "../../src/public/index.js";
import { ProcessTracker, alive, survivors, waitUntil } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

async function get(addr: string, pathname: string): Promise<string> {
  const response = await fetch(`http://${addr}${pathname}`, { signal: AbortSignal.timeout(5_000) });
  expect(response.status).toBe(200);
  return response.text();
}

describe("restart()", () => {
  it("brings a service back on the same port and address, healthy, and its peers reach it again", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("api", t.node("http-server.mjs", { port: 0, health: { http: "/health" } }))
        .process("web", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["api"] })
        .start(),
    );
    const { api, web } = harness.services;
    const before = { addr: api.addr, port: api.port, env: api.env, pid: (await api.status()).pid! };
    expect(await get(web.addr!, "/call/API_ADDR")).toBe(`${api.addr} -> api`);

    await api.restart();
    const status = await api.status();
    expect(status.state).toBe("healthy");
    expect(status.pid).not.toBe(before.pid);
    expect(alive(before.pid)).toBe(false);
    expect({ addr: api.addr, port: api.port, env: api.env }).toEqual({ addr: before.addr, port: before.port, env: before.env });
    expect(t.pids("api").filter(alive)).toEqual([status.pid]);
    // Really listening there again: directly, and from the peer that was given its address once.
    expect(await get(api.addr!, "/whoami")).toBe("api");
    expect(await get(web.addr!, "/call/API_ADDR")).toBe(`${before.addr} -> api`);
    expect(JSON.parse(await get(api.addr!, "/env"))).toMatchObject({ PORT: String(before.port) });
    await harness.stop();
    expect(await survivors(t.pids())).toEqual([]);
  });

  it("waits for this start's log line, not the previous start's", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("late", t.node("late-ready.mjs", { env: { READY_DELAY_MS: "400" }, health: { logLine: "ready to serve" } }))
        .start(),
    );
    const restarting = Date.now();
    await harness.services.late.restart();
    expect(Date.now() - restarting).toBeGreaterThanOrEqual(400);
    const lines: string[] = [];
    for await (const line of harness.services.late.logs()) lines.push(line.line);
    expect(lines).toEqual(["warming up", "ready to serve", "warming up", "ready to serve"]);
    await harness.stop();
  });

  it("restarts a service that was stopped, and one that died", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("api", t.node("http-server.mjs", { port: 0 }))
        .process("stubborn", t.node("ignore-sigterm.mjs", { port: 0, stopTimeoutMs: 200 }))
        .start(),
    );
    const { api, stubborn } = harness.services;
    await api.stop();
    expect((await api.status()).state).toBe("stopped");
    await api.restart();
    expect(await get(api.addr!, "/whoami")).toBe("api");

    process.kill((await stubborn.status()).pid!, "SIGKILL");
    await waitUntil(async () => (await stubborn.status()).state === "exited", 5_000, "stubborn to be seen as exited");
    await stubborn.restart();
    expect((await stubborn.status()).state).toBe("healthy");
    expect(t.pids("stubborn").filter(alive)).toHaveLength(1);
    await harness.stop();
    expect(await survivors(t.pids())).toEqual([]);
  });
});

describe("service.stop() and status()", () => {
  it("stops one service, leaves the others running, and status() follows each state", async () => {
    const states: string[] = [];
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { ...t.node("ignore-sigterm.mjs", { port: 0, stopTimeoutMs: 500 }), dependsOn: ["db"] })
        .process("web", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["api"] })
        .start({ onEvent: (e) => e.service === "api" && states.push(e.state) }),
    );
    const { db, api, web } = harness.services;
    const apiStatus = await api.status();
    expect(apiStatus).toEqual({ state: "healthy", pid: t.pids("api")[0] });

    const stopping = api.stop();
    // It ignores SIGTERM, so it is "stopping" for its 500 ms grace.
    await waitUntil(async () => (await api.status()).state === "stopping", 2_000, "api to be stopping");
    await stopping;
    expect((await api.status()).state).toBe("stopped");
    expect(alive(apiStatus.pid!)).toBe(false);
    expect(states).toEqual(["waiting", "starting", "healthy", "stopping", "stopped"]);
    // Its dependency and its dependent go on.
    expect(await get(db.addr!, "/whoami")).toBe("db");
    expect(await get(web.addr!, "/whoami")).toBe("web");
    expect((await web.status()).state).toBe("healthy");
    // Stopping it again does nothing; stopping the harness afterwards is clean.
    await api.stop();
    await harness.stop();
    expect(await survivors(t.pids())).toEqual([]);
    expect((await db.status()).state).toBe("stopped");
  });

  it("reports a service that exited on its own, with its code or signal", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("oneshot", t.node("exit-early.mjs"))
        .process("victim", t.node("http-server.mjs", { port: 0 }))
        .start(),
    );
    const { oneshot, victim } = harness.services;
    await waitUntil(async () => (await oneshot.status()).state === "exited", 5_000, "oneshot to exit");
    expect(await oneshot.status()).toMatchObject({ state: "exited", exitCode: 3, exitSignal: null });

    process.kill((await victim.status()).pid!, "SIGKILL");
    await waitUntil(async () => (await victim.status()).state === "exited", 5_000, "victim to be seen as exited");
    expect(await victim.status()).toMatchObject({ state: "exited", exitCode: null, exitSignal: "SIGKILL" });
    // The harness still stops cleanly.
    await harness.stop();
    const states: ServiceState[] = [(await oneshot.status()).state, (await victim.status()).state];
    expect(states).toEqual(["stopped", "stopped"]);
  });
});

describe("registry() and toDescriptor()", () => {
  it("are plain data that structuredClone and JSON carry unchanged", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api-server", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["db"] })
        .process("worker", { ...t.node("late-ready.mjs"), dependsOn: ["api-server"] })
        .start(),
    );
    const { db, "api-server": api } = harness.services;
    const registry = harness.registry();
    expect(registry).toStrictEqual({
      db: { target: "process", port: db.port, addr: db.addr, addresses: { host: db.addr }, dependsOn: [] },
      "api-server": { target: "process", port: api.port, addr: api.addr, addresses: { host: api.addr }, dependsOn: ["db"] },
      // Without a port it has an address but no "ip:port" (its peers get WORKER_HOST only).
      worker: { target: "process", port: null, addr: null, addresses: { host: "127.0.0.1" }, dependsOn: ["api-server"] },
    });
    expect(structuredClone(registry)).toStrictEqual(registry);
    expect(JSON.parse(JSON.stringify(registry))).toStrictEqual(registry);

    const descriptor = harness.toDescriptor();
    expect(descriptor.runId).toBe(harness.runId);
    expect(descriptor.registry).toStrictEqual(registry);
    expect(descriptor.services["api-server"]).toStrictEqual({
      name: "api-server",
      target: "process",
      addr: api.addr,
      host: "127.0.0.1",
      port: api.port,
      addresses: { host: api.addr },
      envFile: api.envFile,
    });
    expect(descriptor.services.worker).toMatchObject({ addr: null, host: "127.0.0.1", port: null });
    expect(descriptor.env.worker).toStrictEqual({ ...harness.envFor("worker") });
    expect(descriptor.env.worker).toMatchObject({ API_SERVER_ADDR: api.addr, DB_ADDR: db.addr });
    expect(descriptor.env.db).toMatchObject({ WORKER_HOST: "127.0.0.1" });
    expect(descriptor.env.db!.WORKER_ADDR).toBeUndefined();
    expect(structuredClone(descriptor)).toStrictEqual(descriptor);
    expect(JSON.parse(JSON.stringify(descriptor))).toStrictEqual(descriptor);

    // The addresses in it are real.
    expect(await get(descriptor.services.db!.addr!, "/whoami")).toBe("db");
    expect(db.addrFor("api-server")).toBe(db.addr);
    expect(() => db.addrFor("nope")).toThrow(TypeError);
    expect(() => harness.service("nope" as "db")).toThrow(ConfigError);
    expect(harness.service("db")).toBe(db);
    await harness.stop();
  });
});
