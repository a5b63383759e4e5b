/**
 * A harness process SIGKILLed at random points of its start and run, 20 times (one lab for all):
 * its local processes die within two seconds with no cleanup at all (the watchdog), and after
 * reaping (what `meshbed cleanup` runs) nothing of those runs is left anywhere — no process on
 * the host or the node, no container, network or image, no remote dir, no state dir.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/public/lab.js";
import { reapOrphans } from "../../src/runtimes/reapers.js";
import { listRuns } from "../../src/state/runs.js";
import { busyboxImage, dockerAvailable, leftovers } from "../support/images.js";
import { labAvailable } from "../support/lab.js";
import { fixture, stateDirOf } from "../support/process-tracker.js";

const ready = labAvailable() && (await dockerAvailable());
const KILLS = 20;
const OWN_NET = fs.readlinkSync("/proc/self/ns/net");

/** Processes whose env names the run (services get HARNESS_RUN_ID), split by where they run. */
function processesOfRun(runId: string): { local: number[]; elsewhere: number[] } {
  const found = { local: [] as number[], elsewhere: [] as number[] };
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!fs.readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(`HARNESS_RUN_ID=${runId}`)) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2))) continue;
      (fs.readlinkSync(`/proc/${entry}/ns/net`) === OWN_NET ? found.local : found.elsewhere).push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Polls until the run has no local process left, or the time is up: what is left then. */
async function waitForNone(runId: string, timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = processesOfRun(runId).local;
    if (left.length === 0 || Date.now() > until) return left;
    await sleep(50);
  }
}

/** A process as a failure message shows it: pid, state, parent, group and command line. */
function describeProcess(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").slice(0, 160);
    return `${pid} ${state} ppid ${ppid} pgid ${pgid}: ${cmdline}`;
  } catch {
    return `${pid} (gone)`;
  }
}

describe.skipIf(!ready)("a harness SIGKILLed at random points", () => {
  let lab: Lab;
  let image: string;
  let pidDir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    image = await busyboxImage();
    const { Lab } = await import("../../src/public/lab.js");
    lab = await Lab.create({ nodes: [{ name: "k1", network: "lan" }] });
    pidDir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-kill-"));
  }, 180_000);
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  afterAll(async () => {
    await lab?.destroy();
    fs.rmSync(pidDir, { recursive: true, force: true });
  });

  it(`leaves nothing after ${KILLS} kills and one cleanup; its local processes go within 2 s without one`, async () => {
    const k1 = lab.node("k1");
    const runIds: string[] = [];
    const points: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      const runId = `kill${i}-${Math.random().toString(36).slice(2, 6)}`;
      runIds.push(runId);
      const child = spawn(process.execPath, ["--import", "tsx", fixture("crash-harness-child.mts")], {
        env: { ...process.env, RUN_ID: runId, IMAGE: image, PID_DIR: pidDir, LAB_NODE: JSON.stringify({ host: k1.host, user: k1.user, ssh: k1.ssh }) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let out = "";
      child.stdout!.on("data", (d: Buffer) => (out += d));
      child.stderr!.on("data", (d: Buffer) => (out += d));
      const spawnedAt = Date.now();
      // Until the state dir exists the child is only loading; from then on, anywhere in start or run.
      await expect.poll(() => fs.existsSync(stateDirOf(runId)) || child.exitCode !== null, { timeout: 30_000, interval: 5 }).toBe(true);
      expect(child.exitCode, out).toBe(null);
      // Half the kills within the first 1.5 s (mostly during the start), half anywhere in 3.5 s.
      await sleep(Math.floor(Math.random() * (i % 2 === 0 ? 1_500 : 3_500)));
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      points.push(`${Date.now() - spawnedAt} ms${out.includes("started") ? " (running)" : " (starting)"}`);
      // No cleanup at all: the watchdog alone ends the local process groups.
      const survivors = await waitForNone(runId, 2_000);
      expect(survivors, `killed at ${points.at(-1)}; still alive: ${survivors.map(describeProcess).join("; ")}`).toEqual([]);
    }
    console.log(`killed at: ${points.join(", ")}`);
    expect(points.some((p) => p.includes("starting"))).toBe(true);

    const mine = listRuns().filter((r) => runIds.includes(r.runId));
    expect(mine.every((r) => !r.ownerAlive)).toBe(true);
    const reports = await reapOrphans(mine);
    expect(reports.flatMap((r) => r.failed)).toEqual([]);

    for (const runId of runIds) {
      expect(processesOfRun(runId), runId).toEqual({ local: [], elsewhere: [] });
      expect(await leftovers(runId), runId).toEqual([]);
      expect(fs.existsSync(stateDirOf(runId)), runId).toBe(false);
    }
    const remote = await lab.exec("k1", ["sh", "-c", "ls -A /opt/harness 2>/dev/null; true"]);
    expect(remote.stdout.trim()).toBe("");
    const grandchild = Number(fs.readFileSync(path.join(pidDir, "grandchild"), "utf8"));
    expect(fs.existsSync(`/proc/${grandchild}`) && !/^[ZX]/.test(fs.readFileSync(`/proc/${grandchild}/stat`, "utf8").split(") ")[1] ?? "")).toBe(false);
  }, 600_000);
});
