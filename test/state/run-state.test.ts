/** The state file the reaper reads: every recorded resource is on disk before the event loop turns. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RunState, removeRunDir } from "../../src/state/run-state.js";
import { readRun } from "../../src/state/runs.js";
import { reapOrphans } from "../../src/runtimes/reapers.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function newState(): RunState {
  const dir = path.join(os.tmpdir(), `harness-test${process.pid}-${dirs.length}`);
  dirs.push(dir);
  return RunState.create(dir, `test${dirs.length}`);
}

const onDisk = (state: RunState) => JSON.parse(fs.readFileSync(path.join(state.dir, "state.json"), "utf8")) as { resources: { id: string }[] };

describe("RunState", () => {
  it("writes private files 0600: a new one as it is made, one that was looser by setting its mode", () => {
    const state = newState();
    const fresh = path.join(state.dir, "fresh.env");
    state.writePrivate(fresh, "A=1\n");
    expect(fs.statSync(fresh).mode & 0o777).toBe(0o600);
    const loose = path.join(state.dir, "loose.env");
    fs.writeFileSync(loose, "old", { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    state.writePrivate(loose, "B=2\n");
    expect(fs.statSync(loose).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(loose, "utf8")).toBe("B=2\n");
  });

  it("writes the records of one job together, before any I/O or timer of the next turn", async () => {
    const state = newState();
    for (let i = 0; i < 50; i++) state.record({ kind: "process", id: String(1000 + i) });
    // Not one write per record: none of them is on disk while the job runs…
    expect(onDisk(state).resources).toEqual([]);
    // …and all of them are once its microtasks ran, before any timer or I/O callback (setImmediate).
    await Promise.resolve();
    expect(onDisk(state).resources.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => String(1000 + i)));
    await nextTurn();
    expect(onDisk(state).resources.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => String(1000 + i)));
    state.forget("process", "1000");
    await nextTurn();
    expect(onDisk(state).resources).toHaveLength(49);
  });

  // A write into the removed dir would throw ENOENT from a microtask: an uncaught error fails the test.
  it("writes nothing once the dir is removed", async () => {
    const state = newState();
    state.record({ kind: "process", id: "1" });
    state.remove();
    await nextTurn();
    expect(fs.existsSync(state.dir)).toBe(false);
  });

  it("is private: the dir 0700, the state file 0600", async () => {
    const state = newState();
    state.record({ kind: "process", id: "1" });
    await nextTurn();
    expect(fs.statSync(state.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(state.dir, "state.json")).mode & 0o777).toBe(0o600);
  });
});

describe("a run dir cut short", () => {
  it("is still found by its state file's .tmp when a process died between writing it and renaming it", () => {
    const state = newState();
    state.record({ kind: "process", id: "4242" });
    return Promise.resolve().then(() => {
      fs.renameSync(path.join(state.dir, "state.json"), path.join(state.dir, "state.json.tmp"));
      const run = readRun(state.dir);
      expect(run?.state.resources.map((r) => r.id)).toEqual(["4242"]);
    });
  });

  it("is removed with its state file last, so that a removal killed halfway leaves a dir the next cleanup finds", () => {
    const state = newState();
    const removed: string[] = [];
    const { rmSync, rmdirSync, unlinkSync } = fs;
    // Each removal as it happens, in order (the dir's own last).
    const note = (target: fs.PathLike) => removed.push(path.relative(state.dir, String(target)) || ".");
    const spies = [
      vi.spyOn(fs, "rmSync").mockImplementation((target, options) => {
        note(target);
        rmSync(target, options);
      }),
      vi.spyOn(fs, "rmdirSync").mockImplementation((target, options) => {
        note(target);
        rmdirSync(target, options);
      }),
      vi.spyOn(fs, "unlinkSync").mockImplementation((target) => {
        note(target);
        unlinkSync(target);
      }),
    ];
    try {
      fs.writeFileSync(path.join(state.dir, "descriptor.json"), "{}");
      fs.mkdirSync(path.join(state.dir, "s0", "files"), { recursive: true });
      fs.writeFileSync(path.join(state.dir, "s0", "service.env"), "");
      fs.writeFileSync(path.join(state.dir, "s0", "files", "a.conf"), "");
      fs.symlinkSync("/etc", path.join(state.dir, "s0", "link"));
      removeRunDir(state.dir);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(removed.at(-1)).toBe(".");
    expect(removed.at(-2)).toBe("state.json");
    expect(removed.slice(0, -2)).not.toContain("state.json");
    expect(removed).toContain("descriptor.json");
    // A service's dir after what it holds; a link itself, not what it points to.
    expect(removed.indexOf("s0")).toBeGreaterThan(removed.indexOf("s0/files"));
    expect(removed.indexOf("s0/files")).toBeGreaterThan(removed.indexOf("s0/files/a.conf"));
    expect(removed).toContain("s0/link");
    expect(fs.existsSync("/etc/hostname") || fs.existsSync("/etc/passwd")).toBe(true);
    expect(fs.existsSync(state.dir)).toBe(false);
  });
});

describe("a run dir with no state file left", () => {
  it("is a dead run with nothing recorded once a second old, which a reap removes; a younger one is left to its start", async () => {
    const dir = path.join(os.tmpdir(), `harness-stateless${process.pid}`);
    dirs.push(dir);
    fs.mkdirSync(dir, { recursive: true });
    expect(readRun(dir)).toBeUndefined();
    const old = new Date(Date.now() - 5_000);
    fs.utimesSync(dir, old, old);
    const run = readRun(dir)!;
    expect(run).toMatchObject({ runId: `stateless${process.pid}`, ownerAlive: false });
    expect(run.state.resources).toEqual([]);
    const [report] = await reapOrphans([run]);
    expect(report!.failed).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
