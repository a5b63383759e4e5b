import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readServerSentEvents } from "../../src/cli/status-command.js";
import { eventJson } from "../../src/harness/status-server.js";
import { Harness, type HarnessEvent } from "../../src/public/index.js";
import { parseTopology } from "../../src/topology/yaml.js";
import { ProcessTracker, REPO, fixture, stateDirOf } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The status URL a run records in its state file (what `meshbed status --watch` reads). */
async function statusUrlOf(runId: string): Promise<string> {
  const file = path.join(stateDirOf(runId), "state.json");
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    try {
      const url = (JSON.parse(fs.readFileSync(file, "utf8")) as { statusUrl?: string }).statusUrl;
      if (url) return url;
    } catch {
      // Not written yet.
    }
  }
  throw new Error(`run ${runId} recorded no statusUrl in ${file}`);
}

/** A feed of `/events`, read on the side: its events so far, and a way to wait for one. */
function openFeed(url: string) {
  const stop = new AbortController();
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const done = (async () => {
    for await (const message of readServerSentEvents(url, stop.signal)) events.push({ event: message.event, data: JSON.parse(message.data) });
  })().catch((error: unknown) => {
    if (!stop.signal.aborted) throw error;
  });
  const waitFor = async (what: string, match: (e: { event: string; data: Record<string, unknown> }) => boolean, ms = 10_000) => {
    await expect.poll(() => events.some(match), { timeout: ms, interval: 20, message: `${what}; got ${JSON.stringify(events.map((e) => e.data))}` }).toBe(true);
    return events.find(match)!;
  };
  return { events, done, waitFor, close: () => stop.abort() };
}

describe("the status server (network.statusPort)", () => {
  it("answers /health 503 while the run starts, 200 once every service is healthy, 503 again when one is killed", async () => {
    const runId = t.runId();
    const builder = Harness.builder({ runId, network: { statusPort: 0 } })
      .process("db", t.node("http-server.mjs", { port: 0, env: { LISTEN_DELAY_MS: "1200" } }))
      .process("worker", { ...t.node("late-ready.mjs", { env: { READY_DELAY_MS: "300" }, health: { logLine: "ready to serve" } }), dependsOn: ["db"] });
    const startedAt = Date.now();
    const starting = builder.start();
    let started = false;
    void starting.then(() => (started = true)).catch(() => {});
    const url = await statusUrlOf(runId);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    // Polled through the whole start: 503 (naming who is not healthy yet) until start() resolves.
    const seen: { status: number; unhealthy: unknown; at: number }[] = [];
    while (!started) {
      const { status, body } = await getJson(`${url}health`);
      seen.push({ status, unhealthy: body.unhealthy, at: Date.now() - startedAt });
      await new Promise((r) => setTimeout(r, 50));
    }
    const harness = t.adopt(await starting);
    expect(harness.statusUrl).toBe(url);
    expect(seen.length).toBeGreaterThan(5);
    expect(seen[0]).toMatchObject({ status: 503, unhealthy: { db: "starting", worker: "waiting" } });
    expect(seen.some((s) => s.status === 503 && JSON.stringify(s.unhealthy) === JSON.stringify({ worker: "starting" }))).toBe(true);
    // Never 200 before the last service is healthy: every 200 comes after every 503.
    const first200 = seen.findIndex((s) => s.status === 200);
    expect(seen.slice(first200 === -1 ? seen.length : first200).every((s) => s.status === 200)).toBe(true);
    const healthy = await getJson(`${url}health`);
    expect(healthy).toEqual({ status: 200, body: { runId, healthy: true, services: { db: "healthy", worker: "healthy" } } });

    // The registry and each service's status.
    const services = await getJson(`${url}services`);
    expect(services.status).toBe(200);
    expect(services.body.runId).toBe(runId);
    const db = (services.body.services as Record<string, Record<string, unknown>>).db!;
    expect(db).toMatchObject({ target: "process", addr: harness.services.db.addr, port: harness.services.db.port, dependsOn: [], state: "healthy", status: { state: "healthy" } });
    expect((db.status as { pid: number }).pid).toBe((await harness.services.db.status()).pid);
    expect((services.body.services as Record<string, unknown>).worker).toMatchObject({ target: "process", addr: null, dependsOn: ["db"] });

    // A late subscriber first gets every current state.
    const feed = openFeed(`${url}events`);
    await feed.waitFor("the current states", () => feed.events.filter((e) => e.data.current).length === 2);
    expect(feed.events.slice(0, 2).map((e) => [e.event, e.data])).toEqual([
      ["state", { service: "db", state: "healthy", addr: harness.services.db.addr, current: true }],
      ["state", { service: "worker", state: "healthy", current: true }],
    ]);
    const fromHarness: HarnessEvent[] = [];
    const unsubscribe = harness.onEvent((e) => fromHarness.push(e));

    // Killed: its exit goes out on the feed, and /health says who.
    const killedAt = Date.now();
    await harness.services.worker.kill();
    await feed.waitFor("worker exited", (e) => e.data.service === "worker" && e.data.state === "exited");
    const afterKill = await getJson(`${url}health`);
    const reportedIn = Date.now() - killedAt;
    expect(afterKill).toEqual({ status: 503, body: { runId, healthy: false, services: { db: "healthy", worker: "exited" }, unhealthy: { worker: "exited" } } });
    expect(feed.events.find((e) => e.data.state === "exited")!.data).toMatchObject({ service: "worker", exitSignal: "SIGKILL", logTail: ["warming up", "ready to serve"] });
    expect(reportedIn).toBeLessThan(2_000);
    expect(fromHarness).toEqual([expect.objectContaining({ service: "worker", state: "exited", exitSignal: "SIGKILL" })]);

    // Restarted: its new log lines reach the feed too (the log's followers ended when it exited).
    await harness.services.worker.restart();
    await feed.waitFor("worker's log after the restart", (e) => e.event === "log" && e.data.service === "worker" && e.data.line === "ready to serve");
    expect(feed.events.filter((e) => e.event === "log" && e.data.service === "worker").map((e) => e.data.line)).toEqual(["warming up", "ready to serve"]);
    expect((await getJson(`${url}health`)).status).toBe(200);
    expect(fromHarness.map((e) => `${e.service}:${e.state}`)).toEqual(["worker:exited", "worker:stopping", "worker:stopped", "worker:starting", "worker:healthy"]);
    unsubscribe();

    const logs = await fetch(`${url}services/db/logs?tail=1`).then((r) => r.json());
    expect(logs).toEqual([{ service: "db", stream: "stdout", line: expect.stringMatching(/^db listening on \d+$/), time: expect.any(String) }]);
    expect((await getJson(`${url}services/nope/logs`)).status).toBe(404);
    expect((await getJson(`${url}nowhere`)).status).toBe(404);
    expect((await fetch(`${url}health`, { method: "POST" })).status).toBe(405);

    // Stopped: the feed sees every service stop, then ends; the port is closed.
    await harness.stop();
    await feed.done;
    expect(feed.events.slice(-4).map((e) => `${e.data.service}:${e.data.state}`)).toEqual(["worker:stopping", "worker:stopped", "db:stopping", "db:stopped"]);
    expect(fromHarness).toHaveLength(5);
    await expect(fetch(`${url}health`)).rejects.toThrow();
  });

  it("serves the status page and the SVG of the topology", async () => {
    const harness = t.adopt(
      await Harness.builder({ network: { statusPort: 0 } })
        .process("api", t.node("http-server.mjs", { port: 0 }))
        .start(),
    );
    const page = await fetch(harness.statusUrl!);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).toContain(`<title>meshbed run ${harness.runId}</title>`);
    expect(html).toContain('<g id="svc-api" class="service" data-service="api"');
    const svg = await fetch(`${harness.statusUrl}graph.svg`);
    expect(svg.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8");
    expect(await svg.text()).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    await harness.stop();
  });

  it("refuses a status port in use, naming it, before any service starts", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const runId = t.runId();
      const error = await Harness.builder({ runId, network: { statusPort: port } })
        .process("api", t.node("http-server.mjs", { port: 0 }))
        .start()
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "E_PORT_IN_USE", message: expect.stringContaining(`status port ${port}`) });
      expect((error as Error).message).toContain("statusPort: 0");
      expect(t.pids()).toEqual([]);
      expect(fs.existsSync(stateDirOf(runId))).toBe(false);
    } finally {
      holder.close();
    }
  });

  it("validates the option where it is given: builder, YAML", () => {
    expect(() => Harness.builder({ network: { statusPort: 70_000 } })).toThrow("Expected `network.statusPort` to be an integer from 0 to 65535, got `70000`");
    const spec = parseTopology("network:\n  status_port: 0\nservices:\n  a:\n    target: { process: { binary: sh } }\n");
    expect(spec.options.network).toEqual({ statusPort: 0 });
    expect(() => parseTopology("network:\n  status_port: web\nservices:\n  a:\n    target: { process: { binary: sh } }\n")).toThrow("network.status_port");
  });

  it("forwards an event's extra fields unchanged, and its error as message and code", () => {
    const fault = { service: "api", state: "fault", fault: { kind: "partition", groups: [["api"], ["db"]] } } as unknown as HarnessEvent;
    expect(eventJson(fault)).toEqual({ service: "api", state: "fault", fault: { kind: "partition", groups: [["api"], ["db"]] } });
    const failed = Object.assign(new Error("boom"), { code: "E_EARLY_EXIT", service: "api" });
    expect(JSON.parse(JSON.stringify(eventJson({ service: "api", state: "failed", error: failed })))).toEqual({
      service: "api",
      state: "failed",
      error: { message: "boom", code: "E_EARLY_EXIT", service: "api" },
    });
  });
});

describe("the CLI: meshbed up --status-port, meshbed status --watch, meshbed plan --format", () => {
  const cli = path.join(REPO, "dist/cli.js");
  const run = promisify(execFile);
  const children: ChildProcess[] = [];
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error("dist/cli.js is missing: run `npm run build` first (npm test does)");
  });
  beforeEach(() => {
    dir = fs.mkdtempSync("/tmp/meshbed-status-cli-");
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null) continue;
      child.kill("SIGINT");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function spawnCli(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...t.env() } });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    child.stderr!.on("data", (c: Buffer) => (out += c));
    return { child, output: () => out, exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
  }

  it("up prints the status URL; status --watch prints every state, then each change, until the run stops", async () => {
    const file = path.join(dir, "services.yaml");
    fs.writeFileSync(file, `services:\n  web:\n    target: { process: { binary: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(fixture("http-server.mjs"))}] } }\n    port: 0\n`);
    const runId = t.runId();
    const up = spawnCli(["up", "-f", file, "--run-id", runId, "--status-port", "0"]);
    await expect.poll(up.output, { timeout: 20_000, interval: 50 }).toMatch(/Status page: http:\/\/127\.0\.0\.1:\d+\//);
    const url = /Status page: (\S+)\./.exec(up.output())![1]!;
    expect(url).toBe(await statusUrlOf(runId));

    const watch = spawnCli(["status", "--watch", "--run", runId]);
    await expect.poll(watch.output, { timeout: 10_000, interval: 50 }).toMatch(/now\s+web\s+healthy\s+127\.0\.0\.1:\d+/);
    expect(watch.output()).toContain(`Run ${runId}, status page ${url}`);
    up.child.kill("SIGINT");
    expect(await up.exited).toBe(0);
    expect(await watch.exited).toBe(0);
    expect(watch.output()).toMatch(/\d\d:\d\d:\d\d\s+web\s+stopping\n\d\d:\d\d:\d\d\s+web\s+stopped\nRun \w+ has stopped\.\n$/);
  });

  it("status --watch says how to get a status server when the run has none", async () => {
    const file = path.join(dir, "services.yaml");
    fs.writeFileSync(file, `services:\n  web:\n    target: { process: { binary: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(fixture("http-server.mjs"))}] } }\n    port: 0\n`);
    const runId = t.runId();
    const up = spawnCli(["up", "-f", file, "--run-id", runId]);
    await expect.poll(up.output, { timeout: 20_000, interval: 50 }).toMatch(/All 1 services are healthy/);
    expect(up.output()).not.toContain("Status page");
    const watch = await run(process.execPath, [cli, "status", "--watch", "--run", runId]).catch((e: { code: number; stderr: string }) => e);
    expect(watch).toMatchObject({ code: 2 });
    expect((watch as { stderr: string }).stderr).toContain(`Run ${runId} has no status server to watch: start it with \`meshbed up --status-port 0\``);
  });

  it("plan --format svg|mermaid|dot draws the topology without starting anything", async () => {
    const file = path.join(dir, "services.yaml");
    fs.writeFileSync(file, "services:\n  db:\n    target: { process: { binary: sh } }\n    port: 0\n  api:\n    target: { process: { binary: sh } }\n    port: 0\n    depends_on: [db]\n");
    const svg = (await run(process.execPath, [cli, "plan", "-f", file, "--format", "svg"])).stdout;
    expect(svg).toMatch(/^<svg xmlns/);
    expect(svg.match(/class="service"/g)).toHaveLength(2);
    expect(svg).toContain('data-from="api" data-to="db"');
    const mermaid = (await run(process.execPath, [cli, "plan", "-f", file, "--format", "mermaid"])).stdout;
    expect(mermaid).toContain("flowchart LR\n");
    expect(mermaid).toContain("  s_api --> s_db\n");
    const dot = (await run(process.execPath, [cli, "plan", "-f", file, "--format", "dot"])).stdout;
    expect(dot).toContain('  "api" -> "db";\n');
    const json = JSON.parse((await run(process.execPath, [cli, "plan", "-f", file, "--format", "json"])).stdout) as { levels: string[][] };
    expect(json.levels).toEqual([["db"], ["api"]]);
    const bad = await run(process.execPath, [cli, "plan", "-f", file, "--format", "png"]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('Expected `--format` to be one of text, json, svg, mermaid, dot, got "png"');
  });
});
