/**
 * Faults for Jepsen-style tests: kill, pause/resume, restart on failure, and network partitions
 * between groups of processes, containers and lab-node services — each checked by a real
 * connection that fails during the fault and succeeds after it.
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Harness, type HarnessEvent } from "../../src/public/index.js";
import { chainName } from "../../src/faults/partition-rules.js";
import { cgroupOf, cgroupRoot } from "../../src/faults/partition-cgroups.js";
import { parseTopology } from "../../src/topology/yaml.js";
import { reapOrphans } from "../../src/runtimes/reapers.js";
import { listRuns } from "../../src/state/runs.js";
import { busyboxImage, dockerAvailable, leftovers, testDocker, testRunId } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { alive, fixture, stateDirOf } from "../support/process-tracker.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

async function get(addr: string | undefined, path: string, ms = 2_000): Promise<string> {
  try {
    const response = await fetch(`http://${addr}${path}`, { signal: AbortSignal.timeout(ms) });
    return (await response.text()).trim();
  } catch (error) {
    return `unreachable: ${(error as Error).message}`;
  }
}

/** What a container gets from `http://$VAR/whoami` (busybox wget, bounded). */
function fromContainer(name: string, variable: string): Promise<string> {
  return new Promise((resolve) => {
    execFile("docker", ["exec", name, "sh", "-c", `timeout 3 wget -q -O - "http://$${variable}/whoami" 2>&1 || echo failed`], { encoding: "utf8" }, (_e, stdout) => resolve(stdout.trim()));
  });
}

function hostChains(): string[] {
  return execFileSync("iptables", ["-w", "-S"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes("MB-"));
}

describe("restart policy in the spec", () => {
  it("takes `restart:` from YAML (snake_case) and the builder, with defaults", () => {
    const spec = parseTopology(`services:\n  api:\n    restart:\n      policy: on-failure\n      max_retries: 5\n    target:\n      process:\n        binary: ${NODE}\n`);
    expect(spec.services[0]!.restart).toEqual({ policy: "on-failure", maxRetries: 5, backoffMs: 200 });
    const built = Harness.builder()
      .process("api", { binary: NODE, restart: { policy: "on-failure" } })
      .toSpec();
    expect(built.services[0]!.restart).toEqual({ policy: "on-failure", maxRetries: 3, backoffMs: 200 });
    expect(
      Harness.builder()
        .process("api", { binary: NODE, restart: { policy: "no" } })
        .toSpec().services[0]!.restart,
    ).toBeUndefined();
  });
});

describe.skipIf(!ready)("faults", () => {
  const labOf = labForSuite([
    { name: "f1", network: "lan" },
    { name: "f2", network: "lan" },
  ]);
  let image: string;
  const started: Harness[] = [];

  beforeAll(async () => {
    image = await busyboxImage();
  }, 180_000);
  afterEach(async () => {
    for (const harness of started.splice(0)) await harness.stop().catch(() => {});
  });

  it("kill() ends a process, a container and a node service; each is then reported as exited, with an event", async () => {
    const events: HarnessEvent[] = [];
    const harness = await Harness.builder({ runId: testRunId("fk") })
      .process("p", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .docker("c", { image, port: 8080 })
      .remoteLan("r", { ...on(labOf().node("f1")), binary: NODE, args: [HTTP_SERVER], port: 8090 })
      .start({ onEvent: (e) => events.push(e) });
    started.push(harness);
    const pid = (await harness.services.p.status()).pid!;

    expect(await harness.services.p.kill()).toEqual({ code: null, signal: "SIGKILL" });
    expect(alive(pid)).toBe(false);
    expect(await harness.services.c.kill("SIGKILL")).toMatchObject({ code: 137 });
    expect(await harness.services.r.kill()).toEqual({ code: null, signal: "SIGKILL" });
    expect(await get(harness.services.r.addr, "/health")).toMatch(/^unreachable/);

    for (const name of ["p", "c", "r"] as const) {
      const status = await harness.services[name].status();
      expect(status.state).toBe("exited");
      expect(status.logTail).toEqual(expect.arrayContaining([expect.stringContaining("listening on")]));
      expect(events).toContainEqual(expect.objectContaining({ service: name, state: "exited" }));
    }
    expect(events.find((e) => e.service === "p" && e.state === "exited")).toMatchObject({ exitCode: null, exitSignal: "SIGKILL" });
    await expect(harness.services.p.kill()).rejects.toMatchObject({ code: "E_NOT_RUNNING" });
    await expect(harness.services.p.kill("SIGNOPE" as never)).rejects.toThrow(/signal name/);
    // Killed, not failed: a restart by hand brings it back.
    await harness.services.p.restart();
    expect(await get(harness.services.p.addr, "/whoami")).toBe("p");
    // Killed services stop cleanly: nothing of the run is left.
    await harness.stop();
    expect(fs.existsSync(stateDirOf(harness.runId))).toBe(false);
    expect(await leftovers(harness.runId)).toEqual([]);
  });

  it("pause() freezes a process group, a container and a node service until resume()", async () => {
    const harness = await Harness.builder({ runId: testRunId("fp") })
      .process("p", { binary: NODE, args: [HTTP_SERVER], port: 0, stopTimeoutMs: 500 })
      .docker("c", { image, port: 8080 })
      .remoteLan("r", { ...on(labOf().node("f1")), binary: NODE, args: [HTTP_SERVER], port: 8091 })
      .start();
    started.push(harness);
    const addrs = { p: harness.services.p.addr, c: harness.services.c.addr, r: harness.services.r.addr };
    await Promise.all(Object.values(harness.services).map((s) => s.pause()));
    expect((await harness.services.c.status()).state).toBe("paused");
    for (const addr of Object.values(addrs)) expect(await get(addr, "/health", 1_000)).toMatch(/^unreachable/);
    await Promise.all(Object.values(harness.services).map((s) => s.resume()));
    expect(await get(addrs.p, "/whoami")).toBe("p");
    expect(await get(addrs.c, "/whoami")).toBe("c");
    expect(await get(addrs.r, "/whoami")).toBe("r");
    // A signal it handles: still running, and said so.
    expect(await harness.services.p.kill("SIGWINCH")).toBeUndefined();
    expect(await get(addrs.p, "/whoami")).toBe("p");
    // A paused container (which the engine will not signal) is killed all the same.
    await harness.services.c.pause();
    expect(await harness.services.c.kill("SIGTERM")).toMatchObject({ code: expect.any(Number) });
    expect((await harness.services.c.status()).state).toBe("exited");
    // A paused service still stops promptly.
    await harness.services.p.pause();
    const t0 = Date.now();
    await harness.stop();
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('restart: { policy: "on-failure" } starts a crashed service again with the same port and env, up to maxRetries', async () => {
    const events: HarnessEvent[] = [];
    const harness = await Harness.builder({ runId: testRunId("fr") })
      .process("p", { binary: NODE, args: [HTTP_SERVER], port: 0, env: { TOKEN: "t-1" }, restart: { policy: "on-failure", maxRetries: 1, backoffMs: 50 } })
      .start({ onEvent: (e) => events.push(e) });
    started.push(harness);
    const { port, addr } = harness.services.p;
    const first = (await harness.services.p.status()).pid!;
    process.kill(-first, "SIGKILL");
    await expect
      .poll(
        async () => {
          const st = await harness.services.p.status();
          return `${st.state} ${st.restarts}`;
        },
        { timeout: 10_000 },
      )
      .toBe("healthy 1");
    const status = await harness.services.p.status();
    expect(status.pid).not.toBe(first);
    expect(status.restarts).toBe(1);
    expect(harness.services.p.port).toBe(port);
    expect(JSON.parse(await get(addr, "/env")).TOKEN).toBe("t-1");
    expect(events.map((e) => e.state)).toEqual(["waiting", "starting", "healthy", "exited", "starting", "healthy"]);
    expect(events[3]).toMatchObject({ exitCode: null, exitSignal: "SIGKILL" });

    // maxRetries: 1 is used up: the next crash is only reported.
    process.kill(-status.pid!, "SIGKILL");
    await expect.poll(async () => (await harness.services.p.status()).state, { timeout: 5_000 }).toBe("exited");
    await new Promise((r) => setTimeout(r, 300));
    expect((await harness.services.p.status()).state).toBe("exited");
  });

  it("restarts a crashed container and a crashed node service too, on the same address", async () => {
    const restart = { policy: "on-failure", maxRetries: 2, backoffMs: 50 } as const;
    const events: string[] = [];
    const harness = await Harness.builder({ runId: testRunId("fw") })
      .docker("c", { image, port: 8080, restart })
      .remoteLan("r", { ...on(labOf().node("f1")), binary: NODE, args: [HTTP_SERVER], port: 8104, restart })
      .start({ onEvent: (e) => events.push(`${e.service} ${e.state}${e.error ? ` ${e.error.message.split("\n")[0]}` : ""}`) });
    started.push(harness);
    const before = { c: (await harness.services.c.status()).containerId, r: (await harness.services.r.status()).pid };
    // Crashes from outside the harness: the engine kills the container, the node kills the group.
    execFileSync("docker", ["kill", `mb-${harness.runId}-c`]);
    // (The lab's nodes share the host's pid namespace: the node's group is signalled from here.)
    process.kill(-before.r!, "SIGKILL");
    for (const name of ["c", "r"] as const) {
      await expect
        .poll(
          async () => {
            const st = await harness.services[name].status();
            return `${st.state} ${st.restarts}`;
          },
          { timeout: 15_000, message: events.join("; ") },
        )
        .toBe("healthy 1");
      expect(await get(harness.services[name].addr, "/whoami")).toBe(name);
    }
    expect((await harness.services.c.status()).containerId).not.toBe(before.c);
    expect((await harness.services.r.status()).pid).not.toBe(before.r);
    await harness.stop();
    expect(await leftovers(harness.runId)).toEqual([]);
    expect((await labOf().exec("f1", ["sh", "-c", "ls -A /opt/harness"])).stdout.trim()).toBe("");
  });

  it("partition() parts processes, containers and node services both ways; heal() restores every path and leaves no rule", async () => {
    const runId = testRunId("fn");
    const f1 = labOf().node("f1");
    const f2 = labOf().node("f2");
    const harness = await Harness.builder({ runId })
      .process("a", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .remoteLan("r1", { ...on(f1), binary: NODE, args: [HTTP_SERVER], port: 8092 })
      .docker("c", { image, port: 8080 })
      .remoteLan("r2", { ...on(f2), binary: NODE, args: [HTTP_SERVER], port: 8093 })
      .start();
    started.push(harness);
    const s = harness.services;
    const cName = `mb-${runId}-c`;
    const fromNode = async (node: string, port: number, path: string) => {
      const script = `fetch("http://127.0.0.1:${port}${path}", { signal: AbortSignal.timeout(6000) }).then((r) => r.text()).then(console.log, (e) => console.log("unreachable", e.message))`;
      return (await labOf().exec(node, [NODE, "-e", script])).stdout.trim();
    };
    const paths = async () => {
      const [aR1, aC, aR2, r1A, r1C, r1R2, r2R1, r2A, r2C, cA, cR1, cR2] = await Promise.all([
        get(s.a.addr, "/call/R1_ADDR", 6_000),
        get(s.a.addr, "/call/C_ADDR", 6_000),
        get(s.a.addr, "/call/R2_ADDR", 6_000),
        get(s.r1.addr, "/call/A_ADDR", 6_000),
        get(s.r1.addr, "/call/C_ADDR", 6_000),
        get(s.r1.addr, "/call/R2_ADDR", 6_000),
        // From inside f2: the harness host's own processes are cut from r2 while `a` is.
        fromNode("f2", 8093, "/call/R1_ADDR"),
        fromNode("f2", 8093, "/call/A_ADDR"),
        fromNode("f2", 8093, "/call/C_ADDR"),
        fromContainer(cName, "A_ADDR"),
        fromContainer(cName, "R1_ADDR"),
        fromContainer(cName, "R2_ADDR"),
      ]);
      const ok = (answer: string, name: string) => answer.endsWith(`-> ${name}`) || answer === name;
      return {
        within: { aR1: ok(aR1, "r1"), r1A: ok(r1A, "a"), cR2: ok(cR2, "r2"), r2C: ok(r2C, "c") },
        across: { aC: ok(aC, "c"), aR2: ok(aR2, "r2"), r1C: ok(r1C, "c"), r1R2: ok(r1R2, "r2"), r2R1: ok(r2R1, "r1"), r2A: ok(r2A, "a"), cA: ok(cA, "a"), cR1: ok(cR1, "r1") },
      };
    };
    const all = (value: boolean) => ({
      within: { aR1: true, r1A: true, cR2: true, r2C: true },
      across: { aC: value, aR2: value, r1C: value, r1R2: value, r2R1: value, r2A: value, cA: value, cR1: value },
    });
    expect(await paths()).toEqual(all(true));

    await harness.partition(["a", "r1"], ["c", "r2"]);
    expect(hostChains().some((l) => l.includes(chainName(runId)))).toBe(true);
    const state = listRuns().find((r) => r.runId === runId)!.state;
    expect(state.resources.map((r) => r.kind)).toEqual(expect.arrayContaining(["firewall-host", "firewall-node"]));
    expect(await paths()).toEqual(all(false));

    await harness.heal();
    expect(await paths()).toEqual(all(true));
    expect(hostChains().filter((l) => l.includes(chainName(runId)))).toEqual([]);
    for (const node of ["f1", "f2"]) expect((await labOf().exec(node, ["iptables", "-w", "-S"])).stdout).not.toContain("MB-");

    await expect(harness.partition(["a"], ["nope" as "a"])).rejects.toMatchObject({ code: "E_CONFIG" });
    await expect(harness.partition(["a"], ["a"])).rejects.toMatchObject({ code: "E_CONFIG" });
  }, 120_000);

  it("parts processes of the harness host from each other by their cgroup: the rest of the host, and their own group, still connect", async () => {
    const runId = testRunId("fg");
    const harness = await Harness.builder({ runId })
      .process("n1", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .process("n2", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .process("n3", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .start();
    started.push(harness);
    const s = harness.services;
    const ok = async (from: { addr: string | undefined }, variable: string, name: string) => (await get(from.addr, `/call/${variable}`, 6_000)).endsWith(`-> ${name}`);
    // A connection n1 keeps open to n2 (fetch keeps it alive) from before the partition must be cut too.
    expect(await ok(s.n1, "N2_ADDR", "n2")).toBe(true);
    await harness.partition(["n1"], ["n2", "n3"]);
    const [n1n2, n1n3, n2n1, n2n3, n3n2] = await Promise.all([
      ok(s.n1, "N2_ADDR", "n2"),
      ok(s.n1, "N3_ADDR", "n3"),
      ok(s.n2, "N1_ADDR", "n1"),
      ok(s.n2, "N3_ADDR", "n3"),
      ok(s.n3, "N2_ADDR", "n2"),
    ]);
    expect({ n1n2, n1n3, n2n1, n2n3, n3n2 }).toEqual({ n1n2: false, n1n3: false, n2n1: false, n2n3: true, n3n2: true });
    // This process is not in the partition: it reaches every side.
    for (const name of ["n1", "n2", "n3"] as const) expect(await get(s[name].addr, "/whoami")).toBe(name);
    await harness.heal();
    expect(await ok(s.n1, "N2_ADDR", "n2")).toBe(true);
    expect(await ok(s.n2, "N1_ADDR", "n1")).toBe(true);
    // Its processes are back where they were, and the run's cgroups gone.
    const root = cgroupRoot()!;
    expect(fs.readdirSync(root).filter((n) => n.startsWith(`mb-${runId}`))).toEqual([]);
    expect(cgroupOf((await s.n1.status()).pid!)).toBe(cgroupOf(process.pid));
  }, 60_000);

  it("stop() removes a partition's rules without heal(), even on a node whose service was stopped first", async () => {
    const runId = testRunId("fs");
    const harness = await Harness.builder({ runId })
      .process("a", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .remoteLan("r1", { ...on(labOf().node("f1")), binary: NODE, args: [HTTP_SERVER], port: 8102 })
      .remoteLan("r2", { ...on(labOf().node("f2")), binary: NODE, args: [HTTP_SERVER], port: 8103 })
      .start();
    started.push(harness);
    await harness.partition(["a", "r1"], ["r2"]);
    expect((await labOf().exec("f1", ["iptables", "-w", "-S"])).stdout).toContain(chainName(runId));
    await harness.services.r1.stop();
    await harness.stop();
    expect(hostChains().filter((l) => l.includes(chainName(runId)))).toEqual([]);
    for (const node of ["f1", "f2"]) expect((await labOf().exec(node, ["iptables", "-w", "-S"])).stdout).not.toContain(chainName(runId));
  });

  it("services without a port: the host keeps its loopback and its SSH connection to the node", async () => {
    const runId = testRunId("fq");
    const harness = await Harness.builder({ runId })
      .process("t", { binary: NODE, args: [fixture("ticker.mjs")], env: { TICK_MS: "100" }, health: { logLine: "tick 1" } })
      .process("w", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .remoteLan("u", { ...on(labOf().node("f2")), binary: NODE, args: [fixture("ticker.mjs")], env: { TICK_MS: "100" }, health: { logLine: "tick 1" } })
      .start();
    started.push(harness);
    await harness.partition(["t", "w"], ["u"]);
    expect(await get(harness.services.w.addr, "/whoami")).toBe("w");
    // The node's log still streams over the harness's SSH connection.
    const seen = (await harness.services.u.status()).state;
    const tail = async () => {
      const lines: string[] = [];
      for await (const l of harness.services.u.logs({ tail: 1 })) lines.push(l.line);
      return lines.at(-1);
    };
    const first = await tail();
    await expect.poll(tail, { timeout: 5_000 }).not.toBe(first);
    expect(seen).toBe("healthy");
    await harness.heal();
    expect(hostChains().filter((l) => l.includes(chainName(runId)))).toEqual([]);
  });

  it("a crashed run's partition rules are removed by the reaper, on the host and on the node", async () => {
    const runId = testRunId("fc");
    const script = `
      import { Harness } from ${JSON.stringify(new URL("../../src/public/index.js", import.meta.url).pathname)};
      const node = JSON.parse(process.env.NODE_JSON);
      const h = await Harness.builder({ runId: ${JSON.stringify(runId)} })
        .process("a", { binary: process.execPath, args: [${JSON.stringify(HTTP_SERVER)}], port: 0 })
        .remoteLan("r", { ...node, binary: process.execPath, args: [${JSON.stringify(HTTP_SERVER)}], port: 8094 })
        .start();
      await h.partition(["a"], ["r"]);
      console.log("parted");
      setInterval(() => {}, 1000);
    `;
    const child = execFile(NODE, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, NODE_JSON: JSON.stringify(on(labOf().node("f2"))) } });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    await expect.poll(() => out, { timeout: 60_000 }).toContain("parted");
    expect((await labOf().exec("f2", ["iptables", "-w", "-S"])).stdout).toContain(chainName(runId));
    expect(fs.readdirSync(cgroupRoot()!).filter((n) => n.startsWith(`mb-${runId}-`))).toEqual([`mb-${runId}-a`]);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const [report] = await reapOrphans(listRuns().filter((r) => r.runId === runId));
    expect(report!.failed).toEqual([]);
    expect(hostChains().filter((l) => l.includes(chainName(runId)))).toEqual([]);
    expect((await labOf().exec("f2", ["iptables", "-w", "-S"])).stdout).not.toContain("MB-");
    expect(fs.readdirSync(cgroupRoot()!).filter((n) => n.startsWith(`mb-${runId}-`))).toEqual([]);
  }, 120_000);
});

// Keeps the docker client referenced (the suite shares it with support/images.ts).
void testDocker;
