/**
 * What a harness process that dies without stopping leaves behind: the watchdog and the exit
 * hook end what they can at once, and `reapOrphans` (what `meshbed cleanup` and every start run)
 * removes the rest — processes by group, containers, networks and images by the run's label.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { reapOrphans } from "../../src/runtimes/reapers.js";
import { listRuns } from "../../src/state/runs.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../support/images.js";
import { alive } from "../support/process-tracker.js";

const child = path.resolve(import.meta.dirname, "../fixtures/mixed-harness-child.mts");
// Skipped locally without an engine; a failure under MESHBED_REQUIRE_ALL=1 (CI).
const docker = await dockerAvailable();
let image: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  if (docker) image = await busyboxImage();
}, 180_000);

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

async function startChild(runId: string, mode: "wait" | "exit"): Promise<{ child: ChildProcess; web: number }> {
  const c = spawn(process.execPath, ["--import", "tsx", child], {
    env: { ...process.env, RUN_ID: runId, IMAGE: image, CHILD_MODE: mode },
    stdio: ["pipe", "pipe", "inherit"],
  });
  started.push(c);
  let out = "";
  c.stdout!.on("data", (d: Buffer) => (out += d));
  await expect.poll(() => out, { timeout: 60_000, interval: 50 }).toContain("}");
  return { child: c, web: (JSON.parse(out) as { web: number }).web };
}

describe.skipIf(!docker)("a harness process that dies without stopping", () => {
  it("SIGKILL: its processes die within two seconds, and reaping removes its container and network", async () => {
    const runId = testRunId("rp");
    const { child: c, web } = await startChild(runId, "wait");
    expect(await leftovers(runId)).toEqual(expect.arrayContaining([expect.stringMatching(/^container /), expect.stringMatching(/^network /)]));
    c.kill("SIGKILL");
    await new Promise((resolve) => c.once("exit", resolve));
    await expect.poll(() => !alive(web), { timeout: 2_500, interval: 50 }).toBe(true);

    const run = listRuns().find((r) => r.runId === runId)!;
    expect(run.ownerAlive).toBe(false);
    const [report] = await reapOrphans([run]);
    expect(report!.failed).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
    expect(fs.existsSync(path.join(os.tmpdir(), `harness-${runId}`))).toBe(false);
  }, 120_000);

  it("process.exit without stop(): the exit hook removes its containers at once", async () => {
    const runId = testRunId("rx");
    const { child: c, web } = await startChild(runId, "exit");
    c.stdin!.end();
    await new Promise((resolve) => c.once("exit", resolve));
    // SIGKILL was sent before the exit; on a loaded machine the kernel may take a moment to end it.
    await expect.poll(() => !alive(web), { timeout: 2_000, interval: 50 }).toBe(true);
    expect((await leftovers(runId)).filter((l) => l.startsWith("container "))).toEqual([]);
    // The state dir stays for the reaper, which finds nothing left but the network.
    const [report] = await reapOrphans(listRuns().filter((r) => r.runId === runId));
    expect(report!.failed).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
  }, 120_000);
});

describe("a run that cannot be reaped", () => {
  it("is tried again by cleanup, but not by every start until a while has passed", async () => {
    const runId = testRunId("rf");
    const dir = path.join(os.tmpdir(), `harness-${runId}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    // Owned by a pid that cannot exist; a resource of a kind nothing knows how to undo.
    const state = { runId, pid: 2 ** 30, pidStart: null, startedAt: new Date().toISOString(), services: {}, resources: [{ kind: "bogus", id: "x" }] };
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(state));
    try {
      const mine = () => listRuns().filter((r) => r.runId === runId);
      const [first] = await reapOrphans(mine(), { retryAfterMs: 60_000 });
      expect(first!.failed).toHaveLength(1);
      expect(fs.existsSync(path.join(dir, "reap-failed"))).toBe(true);
      // As a start reaps: skipped, it failed a moment ago.
      expect(await reapOrphans(mine(), { retryAfterMs: 60_000 })).toEqual([]);
      // As `meshbed cleanup` reaps: tried again.
      const [again] = await reapOrphans(mine());
      expect(again!.runId).toBe(runId);
      expect(fs.existsSync(dir)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
