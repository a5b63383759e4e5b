import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { alive } from "../support/process-tracker.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli.js");
const demo = path.join(root, "examples/demo/services.yaml");
const run = promisify(execFile);
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error("dist/cli.js is missing: run `npm run build` first (npm test does)");
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("meshbed up", () => {
  it("starts the topology, streams prefixed logs, and stops everything on Ctrl-C", async () => {
    const child = spawn(process.execPath, [cli, "up", "-f", demo], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    child.stderr!.on("data", (c: Buffer) => (out += c));
    await expect.poll(() => out, { timeout: 20_000, interval: 50 }).toMatch(/web\s+\| web listening on \d+/);
    expect(out).toMatch(/All 3 services are healthy \(run ([a-z0-9]+)\)/);
    expect(out).toMatch(/db\s+healthy 127\.0\.0\.1:\d+/);
    expect(out).toMatch(/db\s+\| db listening on \d+/);
    const runId = /run ([a-z0-9]+)\)/.exec(out)![1]!;
    const state = JSON.parse(fs.readFileSync(`/tmp/harness-${runId}/state.json`, "utf8")) as { resources: { id: string }[] };
    const pids = state.resources.map((r) => Number(r.id));
    expect(pids).toHaveLength(3);
    expect(pids.every(alive)).toBe(true);

    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out).toContain("Stopped.");
    expect(pids.some(alive)).toBe(false);
    expect(fs.existsSync(`/tmp/harness-${runId}`)).toBe(false);
  });

  it("exits 2 with the field's path on a bad YAML field, and 1 when a service fails", async () => {
    const dir = fs.mkdtempSync("/tmp/meshbed-cli-");
    try {
      fs.writeFileSync(path.join(dir, "bad.yaml"), "services:\n  api:\n    target:\n      process:\n        binary: 5\n");
      const bad = await run(process.execPath, [cli, "up", "-f", path.join(dir, "bad.yaml")]).catch((e: { code: number; stderr: string }) => e);
      expect(bad).toMatchObject({ code: 2 });
      expect((bad as { stderr: string }).stderr).toContain("services.api.target.process.binary");

      fs.writeFileSync(path.join(dir, "fails.yaml"), "services:\n  job:\n    target:\n      process:\n        binary: sh\n        args: [-c, 'echo broken >&2; exit 4']\n    port: 0\n");
      const failed = await run(process.execPath, [cli, "up", "-f", path.join(dir, "fails.yaml")]).catch((e: { code: number; stderr: string }) => e);
      expect(failed).toMatchObject({ code: 1 });
      expect((failed as { stderr: string }).stderr).toMatch(/exited with code 4[\s\S]*broken/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("meshbed plan", () => {
  it("prints the registry and every env as JSON without starting anything", async () => {
    const { stdout } = await run(process.execPath, [cli, "plan", "-f", demo, "--json"]);
    const plan = JSON.parse(stdout) as { runId: string; levels: string[][]; registry: Record<string, { addr: string }>; env: Record<string, Record<string, string>> };
    expect(plan.levels).toEqual([["db"], ["api"], ["web"]]);
    expect(plan.env.api!.DB_ADDR).toBe(plan.registry.db!.addr);
    expect(plan.env.api!.DATABASE_URL).toBe(`postgres://app@${plan.registry.db!.addr}/app`);
    expect(plan.env.web!.HARNESS_SERVICE).toBe("web");
    expect(fs.existsSync(`/tmp/harness-${plan.runId}`)).toBe(false);
  });

  it("documents every command in --help", async () => {
    const { stdout } = await run(process.execPath, [cli, "--help"]);
    expect(stdout).toMatch(/up\s+Start the topology/);
    expect(stdout).toMatch(/plan\s+Print what `up` would do/);
    const up = await run(process.execPath, [cli, "up", "--help"]);
    expect(up.stdout).toContain("-f, --file");
  });
});

describe("meshbed up --detach, status, logs, env, down", () => {
  it("runs in the background and is inspected and stopped by the other commands", async () => {
    const cwd = path.dirname(demo);
    const up = await run(process.execPath, [cli, "up", "--detach", "-f", "services.yaml"], { cwd });
    const runId = /Run ([a-z0-9]+) is up in the background/.exec(up.stdout)![1]!;
    try {
      const status = await run(process.execPath, [cli, "status", "--run", runId, "--json"]);
      const [entry] = JSON.parse(status.stdout) as { ownerAlive: boolean; services: { name: string; state: string; id: string }[] }[];
      expect(entry!.ownerAlive).toBe(true);
      expect(entry!.services.map((s) => [s.name, s.state])).toEqual([
        ["db", "healthy"],
        ["api", "healthy"],
        ["web", "healthy"],
      ]);
      const pids = entry!.services.map((s) => Number(s.id.split(" ")[1]));
      expect(pids.every(alive)).toBe(true);

      const table = await run(process.execPath, [cli, "status", "--run", runId]);
      expect(table.stdout).toMatch(/api\s+process\s+healthy\s+host 127\.0\.0\.1:\d+\s+process \d+/);

      const env = await run(process.execPath, [cli, "env", "api", "--run", runId]);
      expect(env.stdout).toMatch(/^export DB_ADDR=127\.0\.0\.1:\d+$/m);
      expect(env.stdout).toContain("export HARNESS_SERVICE=api");

      const logs = await run(process.execPath, [cli, "logs", "--run", runId, "-n", "1", "api"]);
      expect(logs.stdout).toMatch(/^api \| api listening on \d+$/m);

      const down = await run(process.execPath, [cli, "down", runId]);
      expect(down.stdout).toContain(`Run ${runId} is down.`);
      expect(pids.some(alive)).toBe(false);
      expect(fs.existsSync(`/tmp/harness-${runId}`)).toBe(false);
    } finally {
      await run(process.execPath, [cli, "down", runId]).catch(() => undefined);
    }
  });

  it("cleanup reaps the processes of a run whose owner was SIGKILLed", async () => {
    const child = spawn(process.execPath, [cli, "up", "-f", demo], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    await expect.poll(() => out, { timeout: 20_000, interval: 50 }).toMatch(/All 3 services are healthy \(run ([a-z0-9]+)\)/);
    const runId = /run ([a-z0-9]+)\)/.exec(out)![1]!;
    const state = JSON.parse(fs.readFileSync(`/tmp/harness-${runId}/state.json`, "utf8")) as { resources: { id: string }[] };
    const pids = state.resources.map((r) => Number(r.id));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    // Other crashed runs on this machine may fail to reap (exit 1); this test is about its own run.
    const cleanup = await run(process.execPath, [cli, "cleanup", "--json"]).catch((e: { stdout: string }) => e);
    const reports = JSON.parse(cleanup.stdout) as { runId: string; reaped: unknown[]; failed: unknown[] }[];
    const ours = reports.find((r) => r.runId === runId)!;
    expect(ours.reaped, JSON.stringify(ours)).toHaveLength(3);
    expect(ours.failed, JSON.stringify(ours.failed)).toHaveLength(0);
    await expect.poll(() => pids.some(alive), { timeout: 2_000 }).toBe(false);
    expect(fs.existsSync(`/tmp/harness-${runId}`)).toBe(false);
  });
});
