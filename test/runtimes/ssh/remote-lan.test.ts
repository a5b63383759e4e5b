import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, Harness, type HarnessBuilder, type HarnessError, type ServiceMap, StartError } from "../../../src/public/index.js";
import { reapOrphans } from "../../../src/runtimes/reapers.js";
import { listRuns } from "../../../src/state/runs.js";
import { busyboxImage, dockerAvailable, testRunId } from "../../support/images.js";
import { extraProcesses, killSessions, labAvailable, labForSuite, on, waitFor } from "../../support/lab.js";
import { fixture } from "../../support/process-tracker.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
const TICKER = fixture("ticker.mjs");
const EXIT_EARLY = fixture("exit-early.mjs");
const dockerReady = labAvailable() && (await dockerAvailable());

/** Characters a shell would act on: none of them may do anything on a node. */
const HOSTILE = `$(touch /tmp/pwned-dollar) \`touch /tmp/pwned-tick\` '"; touch /tmp/pwned-semi; echo "\n$HOME ; x`;

async function get(addr: string | undefined, urlPath: string): Promise<string> {
  const response = await fetch(`http://${addr}${urlPath}`, { signal: AbortSignal.timeout(10_000) });
  return (await response.text()).trim();
}

describe.skipIf(!labAvailable())("remote_lan on lab nodes", () => {
  const labOf = labForSuite([
    { name: "n1", network: "lan" },
    { name: "n2", network: "lan", user: "mbuser" },
  ]);
  const started: Harness[] = [];

  afterEach(async () => {
    for (const harness of started.splice(0)) await harness.stop().catch(() => {});
  });

  async function start<H extends Harness>(builder: { start(): Promise<H> }): Promise<H> {
    const harness = await builder.start();
    started.push(harness);
    return harness;
  }

  it("connects LAN node → local process, local process → LAN node and LAN node → LAN node with the injected addresses", async () => {
    const n1 = labOf().node("n1");
    const n2 = labOf().node("n2");
    const harness = await start(
      Harness.builder()
        .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
        .remoteLan("east", { ...on(n1), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
        .remoteLan("west", { ...on(n2), binary: NODE, args: [HTTP_SERVER], port: 8081, health: { http: "/health" } }),
    );
    const east = harness.envFor("east");
    // The harness host, as the LAN node sees it: its own address on the LAN.
    expect(east.LOCAL_ADDR).toBe(`${n1.hostIp}:${harness.services.local.port}`);
    expect(east.WEST_ADDR).toBe(`${n2.host}:8081`);
    expect(harness.envFor("local").EAST_ADDR).toBe(`${n1.host}:8080`);
    expect(harness.services.east.addr).toBe(`${n1.host}:8080`);
    expect(harness.services.east.addresses.lan).toBe(`${n1.host}:8080`);
    expect(east.HARNESS_ENV_FILE).toBe("/opt/harness/east/service.env");

    expect(await get(harness.services.east.addr, "/call/LOCAL_ADDR")).toBe(`${east.LOCAL_ADDR} -> local`);
    expect(await get(harness.services.local.addr, "/call/EAST_ADDR")).toBe(`${n1.host}:8080 -> east`);
    expect(await get(harness.services.east.addr, "/call/WEST_ADDR")).toBe(`${n2.host}:8081 -> west`);
    expect(await get(harness.services.west.addr, "/call/EAST_ADDR")).toBe(`${n1.host}:8080 -> east`);
  });

  it("shares one SSH connection among three services on one node", async () => {
    const n1 = labOf().node("n1");
    const harness = await start(
      Harness.builder()
        .remoteLan("s1", { ...on(n1), binary: NODE, args: [HTTP_SERVER], port: 9001 })
        .remoteLan("s2", {
          ...on(n1),
          binary: NODE,
          args: [HTTP_SERVER],
          port: 9002,
          dependsOn: ["s1"],
          // Runs on the node, in the service's dir, with its env.
          health: { command: [NODE, "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"] },
        })
        .remoteLan("s3", { ...on(n1), binary: NODE, args: [TICKER], env: { TICK_MS: "100" }, health: { logLine: "tick 2" } }),
    );
    expect(await get(harness.services.s2.addr, "/whoami")).toBe("s2");
    // Three services, each streaming its logs, probed for health and set up over many channels.
    expect(await labOf().sshConnections("n1")).toBe(1);
    // A restart on the same connection: same address, a new process.
    const before = await harness.services.s1.status();
    await harness.services.s1.restart();
    expect(await get(harness.services.s1.addr, "/whoami")).toBe("s1");
    expect((await harness.services.s1.status()).pid).not.toBe(before.pid);
    expect(before).toMatchObject({ state: "healthy", node: `root@${n1.host}` });
    expect(await labOf().sshConnections("n1")).toBe(1);
    await harness.stop();
    await waitFor("the connection to close", async () => (await labOf().sshConnections("n1")) === 0);
  });

  it("runs more services on one node than sshd allows sessions, on one connection, with every log", async () => {
    const n1 = labOf().node("n1");
    const before = await extraProcesses(labOf(), "n1");
    let builder: HarnessBuilder<ServiceMap> = Harness.builder();
    const names = Array.from({ length: 12 }, (_, i) => `many${i}`);
    for (const name of names) {
      builder = builder.remoteLan(name, { ...on(n1), binary: NODE, args: [TICKER], env: { TICK_MS: "100", BURST: "2" }, health: { logLine: "tick 2" } });
    }
    const harness = await start(builder);
    expect(await labOf().sshConnections("n1")).toBe(1);
    for (const name of names) {
      const lines: string[] = [];
      for await (const line of harness.service(name).logs({ follow: true })) {
        lines.push(`${line.stream}: ${line.line}`);
        if (line.line === "tick 4") break;
      }
      expect(lines.filter((l) => l.startsWith("stdout")).slice(0, 4)).toEqual(["stdout: line 1", "stdout: line 2", "stdout: tick 1", "stdout: tick 2"]);
      expect(lines).toContain("stderr: warning: this line goes to stderr");
    }
    await harness.stop();
    await waitFor("only the node's sshd to be left", async () => (await extraProcesses(labOf(), "n1")).length === before.length, 20_000);
  }, 120_000);

  it("streams logs live, and after stop() leaves no process and no dir on the node", async () => {
    const n2 = labOf().node("n2");
    const before = await extraProcesses(labOf(), "n2");
    const harness = await start(Harness.builder().remoteLan("ticker", { ...on(n2), binary: NODE, args: [TICKER], env: { TICK_MS: "50", BURST: "3" } }));
    const seen: string[] = [];
    for await (const line of harness.services.ticker.logs({ follow: true })) {
      seen.push(`${line.stream}: ${line.line}`);
      if (line.line === "tick 5") break;
    }
    // Each stream keeps its order; between the two, lines may interleave as they do locally.
    expect(seen.filter((l) => l.startsWith("stdout")).slice(0, 3)).toEqual(["stdout: line 1", "stdout: line 2", "stdout: line 3"]);
    expect(seen).toContain("stderr: warning: this line goes to stderr");
    // A non-root user: the dir under the root-owned /opt/harness was made with sudo, and is the user's.
    expect((await labOf().exec("n2", ["stat", "-c", "%U %a", "/opt/harness/ticker"])).stdout.trim()).toBe("mbuser 700");
    expect((await labOf().exec("n2", ["stat", "-c", "%U %a", "/opt/harness/ticker/service.env"])).stdout.trim()).toBe("mbuser 600");
    expect((await extraProcesses(labOf(), "n2")).some((p) => p.args.includes(TICKER))).toBe(true);

    await harness.stop();
    await waitFor("only the node's sshd to be left", async () => (await extraProcesses(labOf(), "n2")).length === before.length);
    expect((await labOf().exec("n2", ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
  });

  it("passes hostile env values, args and paths to the service literally, running nothing on the node", async () => {
    const n1 = labOf().node("n1");
    // A binary path and a remote root full of shell syntax (on the node's view of the host's disk).
    const weirdDir = fs.mkdtempSync("/var/tmp/meshbed weird $(touch pwned-dir) `x` 'q' ;");
    const weirdBinary = path.join(weirdDir, "node $(touch pwned-bin) `touch pwned-tick` ' \" ;");
    fs.symlinkSync(NODE, weirdBinary);
    try {
      const harness = await start(
        Harness.builder().remoteLan("literal", {
          ...on(n1),
          binary: weirdBinary,
          args: [HTTP_SERVER, HOSTILE, "--flag=$(id)"],
          port: 8090,
          env: { HOSTILE, DOLLARS: "$$(touch /tmp/pwned-escaped)" },
          remoteRoot: "/opt/harness/it's $(touch /tmp/pwned-root) `x` ; y",
          health: { http: "/health" },
        }),
      );
      const env = JSON.parse(await get(harness.services.literal.addr, "/env")) as Record<string, string>;
      expect(env.HOSTILE).toBe(HOSTILE);
      expect(env.DOLLARS).toBe("$(touch /tmp/pwned-escaped)");
      expect(env.HARNESS_ENV_FILE).toBe("/opt/harness/it's $(touch /tmp/pwned-root) `x` ; y/literal/service.env");
      // The service itself runs the binary at that path with exactly those arguments.
      const service = (await extraProcesses(labOf(), "n1")).find((p) => p.args.startsWith(`${weirdBinary} `))!;
      expect(service.args).toBe([weirdBinary, HTTP_SERVER, HOSTILE, "--flag=$(id)"].join(" "));
      const pwned = await labOf().exec("n1", ["sh", "-c", "ls /tmp/pwned* /opt/harness/pwned* 2>/dev/null; true"]);
      expect(pwned.stdout).toBe("");
      expect(fs.readdirSync(weirdDir)).toEqual([path.basename(weirdBinary)]);
    } finally {
      for (const h of started.splice(0)) await h.stop().catch(() => {});
      fs.rmSync(weirdDir, { recursive: true, force: true });
      // The service's own dir went with it; the remote root, like /opt/harness, stays: remove it here.
      await labOf().exec("n1", ["sh", "-c", "rm -rf /opt/harness/it*"]);
    }
  });

  it("refuses service names that a shell would act on, before anything starts", () => {
    for (const name of ["a$(id)", "a`id`", "a;b", "a'b", 'a"b', "a\nb", "a b"]) {
      expect(() => Harness.builder().remoteLan(name, { host: "10.0.0.1", binary: "/bin/true" })).toThrow(ConfigError);
    }
  });

  it("fails a service that exits while starting with its exit code and log", async () => {
    const error = (await Harness.builder()
      .remoteLan("broken", { ...on(labOf().node("n1")), binary: NODE, args: [EXIT_EARLY], port: 8095 })
      .start()
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as StartError;
    expect(error).toBeInstanceOf(StartError);
    expect(error.code).toBe("E_EARLY_EXIT");
    expect(error.message).toContain("exited with code 3");
    expect(error.message).toContain("fatal: config file /etc/nothing.conf not found");
    expect((await labOf().exec("n1", ["ls", "-A", "/opt/harness"])).stdout).not.toContain("broken");
  });

  it("checks the binary on the node before anything starts, and closes the connection", async () => {
    const n1 = labOf().node("n1");
    const error = (await Harness.builder()
      .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0 })
      .remoteLan("ghost", { ...on(n1), binary: "/usr/local/bin/not-installed-here", port: 8096 })
      .start()
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe("E_BINARY_NOT_FOUND");
    expect(error.message).toContain(`"/usr/local/bin/not-installed-here" of service "ghost" is not on node root@${n1.host}`);
    await waitFor("the connection to close", async () => (await labOf().sshConnections("n1")) === 0);
  });

  it("re-establishes a dropped connection, says so in the log, and keeps streaming", async () => {
    const harness = await start(Harness.builder().remoteLan("steady", { ...on(labOf().node("n2")), binary: NODE, args: [TICKER], env: { TICK_MS: "100" }, health: { logLine: "tick 1" } }));
    await killSessions(labOf(), "n2");
    const lines: string[] = [];
    for await (const line of harness.services.steady.logs({ follow: true, tail: 0 })) {
      lines.push(line.line);
      if (lines.some((l) => l.includes("re-established")) && /^tick/.test(line.line) && lines.length > 5) break;
    }
    expect(lines.find((l) => l.includes("dropped"))).toMatch(/^\[meshbed\] SSH connection to mbuser@.+ dropped/);
    expect(lines.some((l) => l.includes("re-established"))).toBe(true);
    // No tick was lost or repeated across the reconnection: they count up one by one.
    const ticks = harness.services.steady.logs()[Symbol.asyncIterator]();
    const all: number[] = [];
    for (let next = await ticks.next(); !next.done; next = await ticks.next()) {
      const m = /^tick (\d+)$/.exec(next.value.line);
      if (m) all.push(Number(m[1]));
    }
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(await labOf().sshConnections("n2")).toBe(1);
  });

  it("reaps what a crashed run left on a node: its process group and its dir", async () => {
    const n2 = labOf().node("n2");
    const child = spawn(process.execPath, ["--import", "tsx", fixture("remote-crash.mts")], {
      env: { ...process.env, LAB_NODE: JSON.stringify(on(n2)) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const { runId } = await new Promise<{ runId: string; pgid: number }>((resolve, reject) => {
      child.stdout.once("data", (d: Buffer) => resolve(JSON.parse(d.toString()) as { runId: string; pgid: number }));
      child.once("exit", (code) => reject(new Error(`the crashing child exited early (${code})`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    // The service outlived its harness, as after any crash.
    expect((await extraProcesses(labOf(), "n2")).some((p) => p.args.includes(TICKER))).toBe(true);
    const run = listRuns().find((r) => r.runId === runId)!;
    expect(run.state.resources.map((r) => r.kind)).toEqual(["remote-dir", "remote-process"]);
    const [report] = await reapOrphans([run]);
    expect(report!.failed).toEqual([]);
    await waitFor("the orphan to be gone", async () => !(await extraProcesses(labOf(), "n2")).some((p) => p.args.includes(TICKER)));
    expect((await labOf().exec("n2", ["ls", "-A", "/opt/harness"])).stdout).not.toContain("orphan");
    expect(fs.existsSync(run.dir)).toBe(false);
  });

  it.skipIf(!dockerReady)(
    "connects LAN node → local container through the host's LAN address and the published port",
    async () => {
      const image = await busyboxImage();
      const n1 = labOf().node("n1");
      const harness = await start(
        Harness.builder({ runId: testRunId("lan") })
          .docker("box", { image, port: 8080 })
          .remoteLan("caller", { ...on(n1), binary: NODE, args: [HTTP_SERVER], port: 8097, dependsOn: ["box"], health: { http: "/health" } }),
      );
      const env = harness.envFor("caller");
      expect(env.BOX_HOST).toBe(n1.hostIp);
      expect(await get(harness.services.caller.addr, "/call/BOX_ADDR")).toBe(`${env.BOX_ADDR} -> box`);
    },
    120_000,
  );
});
