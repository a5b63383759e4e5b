import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, type HarnessEvent } from "../../src/public/index.js";
import { ProcessTracker, alive, fixture, stateDirOf, survivors } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

async function get(addr: string, pathname: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://${addr}${pathname}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, text: await response.text() };
}

describe("a web → api → db topology of processes", () => {
  it("starts db, then api, then web, each once its dependency is healthy, each given its peers' addresses", async () => {
    const events: (HarnessEvent & { at: number })[] = [];
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "150" } }))
        .process("api", { ...t.node("http-server.mjs", { port: 0, health: { http: "/health" } }), dependsOn: ["db"] })
        .process("web", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["api"] })
        .start({ onEvent: (e) => events.push({ ...e, at: Date.now() }) }),
    );
    const at = (service: string, state: HarnessEvent["state"]) => {
      const event = events.find((e) => e.service === service && e.state === state);
      expect(event, `${service} ${state}`).toBeDefined();
      return event!.at;
    };
    const order = events.map((e) => `${e.service}:${e.state}`).filter((e) => !e.endsWith(":waiting"));
    expect(order).toEqual(["db:starting", "db:healthy", "api:starting", "api:healthy", "web:starting", "web:healthy"]);
    expect(at("db", "healthy")).toBeLessThanOrEqual(at("api", "starting"));
    expect(at("api", "healthy")).toBeLessThanOrEqual(at("web", "starting"));

    // The logs agree: db was listening before api printed anything, and api before web. A port
    // can answer before its server's first line reaches the log: follow until it comes.
    const firstLine = async (service: "db" | "api" | "web") => {
      for await (const line of harness.services[service].logs({ follow: true, signal: AbortSignal.timeout(10_000) })) return line;
      throw new Error(`${service} logged nothing`);
    };
    const [db, api, web] = [await firstLine("db"), await firstLine("api"), await firstLine("web")];
    expect(db.line).toMatch(/^db listening on \d+$/);
    expect(db.time.getTime()).toBeLessThanOrEqual(api.time.getTime());
    expect(api.time.getTime()).toBeLessThanOrEqual(web.time.getTime());

    // Each service got the others' addresses and they are real: web → api and api → db connect.
    const { web: w, api: a, db: d } = harness.services;
    expect(harness.envFor("web")).toMatchObject({ API_ADDR: a.addr, DB_ADDR: d.addr, PORT: String(w.port), HARNESS_SERVICE: "web" });
    expect(harness.envFor("db")).toMatchObject({ API_ADDR: a.addr, WEB_ADDR: w.addr });
    expect(a.addr).toBe(`127.0.0.1:${a.port}`);
    expect(await get(w.addr!, "/call/API_ADDR")).toEqual({ status: 200, text: `${a.addr} -> api` });
    expect(await get(a.addr!, "/call/DB_ADDR")).toEqual({ status: 200, text: `${d.addr} -> db` });
    expect(await get(d.addr!, "/call/WEB_ADDR")).toEqual({ status: 200, text: `${w.addr} -> web` });
    const seen = JSON.parse((await get(a.addr!, "/env")).text) as Record<string, string>;
    expect(seen).toMatchObject({ DB_ADDR: d.addr, DB_HOST: "127.0.0.1", DB_PORT: String(d.port), HARNESS_RUN_ID: harness.runId });

    const pids = t.pids();
    expect(pids).toHaveLength(3);
    for (const name of ["db", "api", "web"] as const) {
      const status = await harness.services[name].status();
      expect(status.state).toBe("healthy");
      expect(t.pids(name)).toEqual([status.pid]);
    }
    expect(fs.statSync(stateDirOf(harness.runId)).isDirectory()).toBe(true);

    events.length = 0;
    await harness.stop();
    expect(await survivors(pids)).toEqual([]);
    expect(fs.existsSync(stateDirOf(harness.runId))).toBe(false);
    // Dependents first.
    expect(events.filter((e) => e.state === "stopped").map((e) => e.service)).toEqual(["web", "api", "db"]);
    // Stopping again is the same, finished stop.
    await harness.stop();
  });

  it("gates start on health: start() resolves only once a slow service answers", async () => {
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "400" } }))
        .process("api", { ...t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "400" }, health: { http: "/health" } }), dependsOn: ["db"] })
        .start(),
    );
    // Two levels of 400 ms each, one after the other.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    // And the moment start() resolves, both answer.
    expect(await get(harness.services.db.addr!, "/health")).toEqual({ status: 200, text: "ok" });
    expect(await get(harness.services.api.addr!, "/call/DB_ADDR")).toEqual({ status: 200, text: `${harness.services.db.addr} -> db` });
    await harness.stop();
  });

  it("starts services of one dependency level in parallel", async () => {
    const started = Date.now();
    const harness = t.adopt(
      await Harness.builder()
        .process("a", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "600" } }))
        .process("b", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "600" } }))
        .process("c", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "600" } }))
        .start(),
    );
    expect(Date.now() - started).toBeLessThan(1_500);
    await harness.stop();
  });

  it("leaves no process behind on stop(): grandchildren and SIGTERM-ignorers included", async () => {
    const grandchildFile = path.join(t.dir, "grandchild.pid");
    const harness = t.adopt(
      await Harness.builder()
        .process("forker", t.node("fork-grandchild.mjs", { port: 0, stopTimeoutMs: 300, env: { PID_FILE: grandchildFile } }))
        .process("stubborn", t.node("ignore-sigterm.mjs", { port: 0, stopTimeoutMs: 300 }))
        .process("web", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["forker", "stubborn"] })
        .start(),
    );
    const grandchild = Number(fs.readFileSync(grandchildFile, "utf8"));
    // The leader, its child and the grandchild (which ignores SIGTERM too).
    const forker = await t.waitForPids("forker", 3);
    expect(forker).toContain(grandchild);
    const pids = [...forker, ...t.pids("stubborn"), ...t.pids("web")];
    expect(pids).toHaveLength(5);
    expect(pids.every(alive)).toBe(true);

    const stopping = Date.now();
    await harness.stop();
    // Both SIGTERM-ignorers needed the SIGKILL after their 300 ms grace; the stop waited for it.
    expect(Date.now() - stopping).toBeGreaterThanOrEqual(300);
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(await survivors(pids)).toEqual([]);
    expect(fs.existsSync(stateDirOf(harness.runId))).toBe(false);
    const log = [];
    for await (const line of harness.services.stubborn.logs()) log.push(line.line);
    expect(log).toContain("ignoring SIGTERM");
  });

  it("starts the same kind of topology from a services.yaml", async () => {
    const file = path.join(t.dir, "services.yaml");
    const env = Object.entries(t.env()).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
    const server = (name: string, extra: string[]) => [
      `  ${name}:`,
      "    target:",
      "      process:",
      `        binary: ${JSON.stringify(process.execPath)}`,
      `        args: [${JSON.stringify(fixture("http-server.mjs"))}]`,
      "    port: 0",
      "    env:",
      ...env,
      ...extra,
    ];
    fs.writeFileSync(
      file,
      [
        "services:",
        ...server("db", []),
        ...server("api", ["    depends_on: [db]", "    health:", "      http: /health", "    config:", '      DATABASE_URL: "postgres://${DB_ADDR}/app"']),
        "",
      ].join("\n"),
    );
    const harness = t.adopt(await Harness.fromFile(file).start());
    const api = harness.service("api");
    const db = harness.service("db");
    expect(await get(api.addr!, "/call/DB_ADDR")).toEqual({ status: 200, text: `${db.addr} -> db` });
    expect(harness.envFor("api").DATABASE_URL).toBe(`postgres://${db.addr}/app`);
    expect(harness.registry().api!.dependsOn).toEqual(["db"]);
    const pids = t.pids();
    expect(pids).toHaveLength(2);
    await harness.stop();
    expect(await survivors(pids)).toEqual([]);
  });

  it("stops everything when an `await using` block ends", async () => {
    let pids: number[] = [];
    let runId = "";
    {
      await using harness = await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", { ...t.node("http-server.mjs", { port: 0 }), dependsOn: ["db"] })
        .start();
      runId = harness.runId;
      pids = t.pids();
      expect(pids).toHaveLength(2);
      expect(pids.every(alive)).toBe(true);
      expect(await get(harness.services.api.addr!, "/call/DB_ADDR")).toMatchObject({ status: 200 });
    }
    expect(await survivors(pids)).toEqual([]);
    expect(fs.existsSync(stateDirOf(runId))).toBe(false);
  });

  it("stops everything when a block with `await using` throws", async () => {
    let pids: number[] = [];
    const failing = async () => {
      await using harness = await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .start();
      pids = t.pids();
      expect(harness.services.db.addr).toBeDefined();
      throw new Error("the test body failed");
    };
    await expect(failing()).rejects.toThrow("the test body failed");
    expect(pids).toHaveLength(1);
    expect(await survivors(pids)).toEqual([]);
  });
});
