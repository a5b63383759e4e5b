import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcessTracker, REPO, alive, fixture, stateDirOf, survivors } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

type Exit = { code: number | null; signal: NodeJS.Signals | null };

interface Child {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** What it wrote to stderr so far, for failure messages. */
  stderr: () => string;
}

interface Started extends Child {
  runId: string;
  /** Every process of its topology: leaders, the forker's child and grandchild. */
  topology: number[];
}

/** Runs harness-child.mts (a user's script) under tsx, as one node process. */
function spawnChild(mode: "wait" | "exit" | "own-listener" | "hang"): Child {
  const child = spawn(process.execPath, ["--import", "tsx", fixture("harness-child.mts")], {
    cwd: REPO,
    env: { ...process.env, PID_DIR: t.pidDir, CHILD_MODE: mode },
    stdio: ["pipe", "pipe", "pipe"],
  });
  t.watch(child.pid!);
  const exited = once(child, "exit").then(([code, signal]) => ({ code, signal }) as Exit);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, exited, stderr: () => stderr };
}

/** Runs harness-child.mts and waits until its topology is up. */
async function startChild(mode: "wait" | "exit" | "own-listener"): Promise<Started> {
  const running = spawnChild(mode);
  const lines = createInterface({ input: running.child.stdout! });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line as string),
    running.exited.then((info) => {
      throw new Error(`the child exited before its topology was up (${JSON.stringify(info)}): ${running.stderr()}`);
    }),
  ]);
  const report = JSON.parse(first) as { runId: string; pids: Record<string, number> };
  t.adoptRunId(report.runId);
  expect(Object.keys(report.pids).sort()).toEqual(["forker", "stubborn", "web"]);
  // The forker's leader, child and grandchild, the SIGTERM-ignorer and web.
  const grandchild = Number(fs.readFileSync(path.join(t.dir, "grandchild.pid"), "utf8"));
  await t.waitForPids("forker", 3);
  const topology = t.pids();
  expect(topology).toHaveLength(5);
  expect(topology).toEqual(expect.arrayContaining([...Object.values(report.pids), grandchild]));
  expect(topology.every(alive)).toBe(true);
  return { ...running, runId: report.runId, topology };
}

/** Resolves the child's exit, or fails after `ms`. */
async function exitWithin(running: Child, ms: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the child did not exit within ${ms} ms: ${running.stderr()}`)), ms)));
  try {
    return await Promise.race([running.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("exit hooks of a process that runs a harness", () => {
  it.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)("stop the whole topology on %s, then let the signal end the process", async (signal) => {
    const started = await startChild("wait");
    expect(fs.existsSync(stateDirOf(started.runId))).toBe(true);
    started.child.kill(signal);
    const exit = await exitWithin(started, 15_000);
    // The signal did what it does when nobody handles it: the process died of it.
    expect(exit).toEqual({ code: null, signal });
    expect(await survivors(started.topology, 2_000)).toEqual([]);
    // The stop was a real one (not only the last-resort SIGKILL): it cleaned the state dir.
    expect(fs.existsSync(stateDirOf(started.runId))).toBe(false);
  });

  it("stop what has started when the signal comes while the topology is still starting", async () => {
    const running = spawnChild("hang");
    // forker (3 processes), stubborn and web are up; late never becomes healthy.
    await t.waitForPids("late", 1, 20_000);
    await t.waitForPids("forker", 3);
    const topology = t.pids();
    expect(topology).toHaveLength(6);
    const late = t.pids("late")[0]!;
    const runId = /(?:^|\0)HARNESS_RUN_ID=([^\0]+)/.exec(fs.readFileSync(`/proc/${late}/environ`, "utf8"))![1]!;
    t.adoptRunId(runId);
    expect(fs.existsSync(stateDirOf(runId))).toBe(true);
    running.child.kill("SIGTERM");
    const exit = await exitWithin(running, 15_000);
    // The signal ends it, or (whichever comes first once the stop is done) the script's own
    // `await start()`, which rejects with E_START_ABORTED.
    expect(exit.signal === "SIGTERM" || (exit.code !== null && exit.code !== 0), JSON.stringify(exit)).toBe(true);
    expect(await survivors(topology, 2_000)).toEqual([]);
    expect(fs.existsSync(stateDirOf(runId))).toBe(false);
  });

  it("leave the ending to a signal listener of the user's own, after stopping the topology", async () => {
    const started = await startChild("own-listener");
    started.child.kill("SIGTERM");
    const exit = await exitWithin(started, 15_000);
    expect(exit).toEqual({ code: 7, signal: null });
    expect(await survivors(started.topology, 2_000)).toEqual([]);
    // The harness did stop it before the user's listener ended the process.
    expect(fs.existsSync(stateDirOf(started.runId))).toBe(false);
  });

  it("kill the topology when the process exits without stopping it", async () => {
    const started = await startChild("exit");
    started.child.stdin!.end();
    const exit = await exitWithin(started, 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    // SIGKILL to each process group on `exit`: the grandchild and the SIGTERM-ignorer too.
    expect(await survivors(started.topology, 2_000)).toEqual([]);
    // No time to clean up: the state dir stays for the reaper, recording each process group.
    const state = JSON.parse(fs.readFileSync(path.join(stateDirOf(started.runId), "state.json"), "utf8")) as { resources: { kind: string }[] };
    expect(state.resources.filter((r) => r.kind === "process")).toHaveLength(3);
  });
});
