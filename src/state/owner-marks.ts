import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ownStartTime, processStartTime } from "../host/proc-stat.js";

/**
 * The cheap marker that lets a start skip the reap scan when nothing crashed: every process that
 * owns a run keeps an empty file `<tmp>/meshbed-owners/<pid>-<start>` while it has runs on disk, and
 * removes it when it exits with none left. A start lists that folder and asks each pid whether it
 * lives (no file is read): only a mark whose process is gone — a crash — calls for the scan of every
 * run's state (`listRuns`), after which the reaper removes the mark.
 */
const DIR = path.join(os.tmpdir(), "meshbed-owners");
let own: string | undefined;
let liveRuns = 0;

function ownMark(): string | undefined {
  if (own) return own;
  try {
    // Shared by every user's runs, as the temp dir is (sticky: each removes only its own marks).
    if (!fs.existsSync(DIR)) {
      fs.mkdirSync(DIR, { recursive: true });
      fs.chmodSync(DIR, 0o1777);
    }
    const file = path.join(DIR, `${process.pid}-${ownStartTime() ?? 0}`);
    fs.writeFileSync(file, "");
    own = file;
  } catch {
    // Without a mark (a folder made unwritable) a crash of this process is found by `meshbed cleanup`
    // and by the scan of a start that another crash triggers, not by every start.
    return undefined;
  }
  // Gone with the process only when its runs are: a run left on disk (killed at exit) needs the reaper.
  process.on("exit", () => {
    if (liveRuns === 0 && own) fs.rmSync(own, { force: true });
  });
  return own;
}

/** A run of this process is on disk from now on (before its state file is written). */
export function markRunOnDisk(): void {
  ownMark();
  liveRuns++;
}

/** A run of this process has removed its state dir. */
export function unmarkRunOnDisk(): void {
  liveRuns = Math.max(0, liveRuns - 1);
}

/**
 * Marks of processes that are gone: a crash left runs (or nothing: a process killed between its last
 * stop and exit). A mark whose runs a scan could not reap (an engine that refuses, a node away) is
 * deferred until its mtime (`clearMarks`): the starts until then do not scan for it again —
 * `meshbed cleanup` (`{ deferred: true }`) does.
 */
export function deadOwnerMarks(options: { deferred?: boolean } = {}): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(DIR);
  } catch {
    return [];
  }
  const dead: string[] = [];
  for (const name of names) {
    const [pid, start] = name.split("-").map(Number) as [number, number];
    if (pid === process.pid && start === (ownStartTime() ?? 0)) continue;
    if (alive(pid) && (!start || processStartTime(pid) === start)) continue;
    const mark = path.join(DIR, name);
    if (!options.deferred && deferredUntil(mark) > Date.now()) continue;
    dead.push(mark);
  }
  return dead;
}

/**
 * After a reap scan: the marks of gone processes whose runs are all reaped say nothing more (`runs`:
 * what is left on disk); one whose runs are left is deferred by `retryAfterMs`, if given (its mtime
 * set that far ahead: the one stat `deadOwnerMarks` makes of a dead mark).
 */
export function clearMarks(marks: readonly string[], runs: readonly { state: { pid: number } }[], retryAfterMs?: number): void {
  const left = new Set(runs.map((r) => r.state.pid));
  for (const mark of marks) {
    if (left.has(Number(path.basename(mark).split("-")[0]))) {
      if (retryAfterMs !== undefined) defer(mark, retryAfterMs);
      continue;
    }
    try {
      fs.rmSync(mark, { force: true });
    } catch {
      // Another user's mark (the folder is sticky): its next start or cleanup clears it.
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function deferredUntil(mark: string): number {
  try {
    return fs.statSync(mark).mtimeMs;
  } catch {
    return 0;
  }
}

function defer(mark: string, ms: number): void {
  const until = new Date(Date.now() + ms);
  try {
    fs.utimesSync(mark, until, until);
  } catch {
    // Another user's mark: its owner's next start or cleanup defers it.
  }
}
