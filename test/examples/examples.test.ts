/**
 * The package as a user gets it: `npm pack`, installed into a copy of each example project,
 * whose own test suite then runs against real processes and a real container.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxImage, dockerAvailable, testDocker } from "../support/images.js";
import { labAvailable } from "../support/lab.js";

const root = path.resolve(import.meta.dirname, "../..");
let work: string;
let tarball: string;
const installed = new Map<string, string>();

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-examples-"));
  const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: root, encoding: "utf8" }).trim().split("\n").pop()!;
  tarball = path.join(work, name);
  fs.cpSync(path.join(root, "examples/shared"), path.join(work, "shared"), { recursive: true });
}, 180_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** A copy of examples/<name> with the packed package installed; made once. */
function install(name: string): string {
  const done = installed.get(name);
  if (done) return done;
  const dir = path.join(work, name);
  fs.cpSync(path.join(root, "examples", name), dir, { recursive: true, filter: (src) => !src.includes("node_modules") });
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  pkg.devDependencies.meshbed = `file:${tarball}`;
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "pipe" });
  installed.set(name, dir);
  return dir;
}

const quiet = { ...process.env, CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" };

function runExample(name: string): string {
  const dir = install(name);
  const result = spawnSync("npm", ["test", "--silent"], { cwd: dir, encoding: "utf8", env: quiet });
  const output = `${result.stdout}\n${result.stderr}`.replace(/\u001b\[[0-9;]*m/g, "");
  if (result.status !== 0) throw new Error(`examples/${name} failed (exit ${result.status}):\n${output}`);
  return output;
}

/** Dead or a zombie (dead, not yet reaped). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return /^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!);
  } catch {
    return true;
  }
}

/** Processes whose command line names a file under `dir` (what a run of the copy there started). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

async function containersOf(runId: string): Promise<string[]> {
  const list = await testDocker().listContainers({ all: true, filters: { label: [`meshbed.run=${runId}`] } });
  return list.map((c) => c.Id);
}

/**
 * Names (network.dns) as a user's project gets them: a script of the fresh project imports the
 * packed `meshbed` and `meshbed/lab`, starts a local process, a container and a service on a lab
 * node, and asks each one's resolver for the others by name. Prints one JSON line.
 */
const DNS_SCRIPT = `import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Harness } from "meshbed";
import { Lab } from "meshbed/lab";
const lab = await Lab.create({ nodes: [{ name: "lan1", network: "lan" }] });
// Not execFileSync: the run's DNS server answers from this process's event loop.
const out = (cmd, args) => promisify(execFile)(cmd, args, { encoding: "utf8" }).then((r) => r.stdout.trim(), (e) => "failed: " + e.message);
const first = (text) => text.split(/\\s+/)[0];
try {
  const n = lab.node("lan1");
  const h = await Harness.builder({ network: { dns: true } })
    .process("app", { binary: "sleep", args: ["300"] })
    .docker("box", { image: process.env.IMAGE, command: ["sleep", "300"] })
    .remoteLan("edge", { host: n.host, user: n.user, ssh: n.ssh, binary: "sleep", args: ["300"], dns: true })
    .start();
  try {
    const pid = (await h.service("app").status()).pid;
    const box = (await h.service("box").status()).containerId;
    const nslookup = async (name) => out("docker", ["exec", box, "sh", "-c", "nslookup " + name + " | awk '/^Address/ {a=$NF} END {print a}'"]);
    const got = {
      "app>edge": first(await out("nsenter", ["-t", String(pid), "-m", "--", "getent", "hosts", "edge"])),
      "app>box": first(await out("nsenter", ["-t", String(pid), "-m", "--", "getent", "hosts", "box"])),
      "box>app": await nslookup("app"),
      "box>edge": await nslookup("edge"),
      "edge>app": first((await lab.exec("lan1", ["getent", "hosts", "app"])).stdout.trim()),
      "edge>box": first((await lab.exec("lan1", ["getent", "hosts", "box"])).stdout.trim()),
    };
    const want = Object.fromEntries(Object.keys(got).map((k) => { const [c, t] = k.split(">"); return [k, h.envFor(c)[t.toUpperCase() + "_HOST"]]; }));
    console.log(JSON.stringify({ got, want }));
  } finally {
    await h.stop();
  }
} finally {
  await lab.destroy();
}
`;

describe("the packed package in a fresh project", async () => {
  // The examples have a container: without an engine they cannot run (a failure under MESHBED_REQUIRE_ALL=1).
  const docker = await dockerAvailable();

  it.runIf(docker && labAvailable())(
    "finds services by name (network.dns): a local process, a container and a lab node, each answered its own *_HOST",
    async () => {
      const dir = install("vitest");
      fs.writeFileSync(path.join(dir, "dns-check.mjs"), DNS_SCRIPT);
      const result = spawnSync(process.execPath, ["dns-check.mjs"], { cwd: dir, encoding: "utf8", env: { ...quiet, IMAGE: await busyboxImage() } });
      expect(result.status, result.stderr).toBe(0);
      const { got, want } = JSON.parse(result.stdout.trim().split("\n").pop()!) as { got: Record<string, string>; want: Record<string, string> };
      expect(Object.values(want).every((v) => /^\d+\.\d+\.\d+\.\d+$/.test(v))).toBe(true);
      expect(got).toEqual(want);
    },
    300_000,
  );

  it.runIf(docker)(
    "runs examples/vitest's suite green: a globalSetup topology and a per-file fixture",
    () => {
      const out = runExample("vitest");
      expect(out).toMatch(/Tests\s+6 passed \(6\)/);
    },
    300_000,
  );

  it.runIf(docker)(
    "runs examples/jest's suite green",
    () => {
      const out = runExample("jest");
      expect(out).toMatch(/Tests:\s+4 passed, 4 total/);
    },
    300_000,
  );

  it.runIf(docker)(
    "leaves no process, container or state of either topology when vitest is SIGTERMed mid-test",
    async () => {
      const dir = install("vitest");
      const marker = path.join(dir, "run-id.txt");
      const fixtureMarker = path.join(dir, "fixture-run-id.txt");
      fs.rmSync(marker, { force: true });
      fs.rmSync(fixtureMarker, { force: true });
      // A test that tells which run it got, then sleeps well past the moment of the signal.
      fs.writeFileSync(
        path.join(dir, "test/sleep.test.ts"),
        `import fs from "node:fs";
import { useHarness } from "meshbed/vitest";
import { test } from "vitest";
test("sleeps", async () => {
  fs.writeFileSync(${JSON.stringify(marker)}, useHarness().runId);
  await new Promise((resolve) => setTimeout(resolve, 120_000));
}, 180_000);
`,
      );
      // And one with a topology of its own (harnessFixture), started in a vitest worker.
      fs.writeFileSync(
        path.join(dir, "test/sleep-fixture.test.ts"),
        `import fs from "node:fs";
import { Harness } from "meshbed";
import { harnessFixture } from "meshbed/vitest";
import { test as base } from "vitest";
const test = base.extend("topology", { scope: "file" }, harnessFixture(() => Harness.builder().process("sleeper", { binary: "sleep", args: ["300"] })));
test("sleeps with a fixture", async ({ topology }) => {
  fs.writeFileSync(${JSON.stringify(fixtureMarker)}, topology.runId);
  await new Promise((resolve) => setTimeout(resolve, 120_000));
}, 180_000);
`,
      );
      // vitest itself, not through npm: the signal goes to the process that ran globalSetup.
      const vitest = spawn(process.execPath, ["node_modules/vitest/vitest.mjs", "run", "--maxWorkers=2", "test/sleep.test.ts", "test/sleep-fixture.test.ts"], {
        cwd: dir,
        env: quiet,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      vitest.stdout!.on("data", (c: Buffer) => (out += c));
      vitest.stderr!.on("data", (c: Buffer) => (out += c));
      const exited = new Promise<void>((resolve) => vitest.once("exit", () => resolve()));
      try {
        const started = () => fs.existsSync(marker) && fs.existsSync(fixtureMarker);
        await expect.poll(() => started() || vitest.exitCode !== null, { timeout: 120_000, interval: 100 }).toBe(true);
        if (!started()) throw new Error(`vitest ended before its tests started:\n${out}`);
        const runId = fs.readFileSync(marker, "utf8");
        const fixtureRunId = fs.readFileSync(fixtureMarker, "utf8");
        const fixtureState = JSON.parse(fs.readFileSync(`/tmp/harness-${fixtureRunId}/state.json`, "utf8")) as { pid: number; resources: { kind: string; id: string }[] };
        // The fixture's harness lives in a worker, not in the process that gets the signal.
        expect(fixtureState.pid).not.toBe(vitest.pid);
        const fixturePids = fixtureState.resources.filter((r) => r.kind === "process").map((r) => Number(r.id));
        expect(fixturePids).toHaveLength(1);
        const state = JSON.parse(fs.readFileSync(`/tmp/harness-${runId}/state.json`, "utf8")) as { pid: number; resources: { kind: string; id: string }[] };
        expect(state.pid).toBe(vitest.pid);
        const pids = state.resources.filter((r) => r.kind === "process").map((r) => Number(r.id));
        expect(pids).toHaveLength(2);
        expect(pids.some(gone)).toBe(false);
        expect(await containersOf(runId)).toHaveLength(1);

        vitest.kill("SIGTERM");
        await exited;
        await expect.poll(() => [...pids, ...fixturePids].filter((pid) => !gone(pid)), { timeout: 15_000, interval: 100 }).toEqual([]);
        await expect.poll(() => containersOf(runId), { timeout: 15_000, interval: 200 }).toEqual([]);
        // A state dir is removed by a clean stop; one left behind must be reapable (its owner is gone).
        for (const id of [runId, fixtureRunId]) {
          if (!fs.existsSync(`/tmp/harness-${id}`)) continue;
          const cleanup = spawnSync(process.execPath, [path.join(root, "dist/cli.js"), "cleanup", "--json"], { encoding: "utf8" });
          const reports = JSON.parse(cleanup.stdout) as { runId: string; failed: unknown[] }[];
          expect(reports.find((r) => r.runId === id)?.failed ?? []).toEqual([]);
          expect(fs.existsSync(`/tmp/harness-${id}`)).toBe(false);
        }
      } finally {
        if (vitest.exitCode === null && vitest.signalCode === null) vitest.kill("SIGKILL");
        // Vitest leaves its workers running, orphaned, after a SIGTERM: end the ones of this copy.
        for (const pid of processesUnder(dir)) process.kill(pid, "SIGKILL");
        fs.rmSync(path.join(dir, "test/sleep.test.ts"), { force: true });
        fs.rmSync(path.join(dir, "test/sleep-fixture.test.ts"), { force: true });
      }
    },
    300_000,
  );
});
