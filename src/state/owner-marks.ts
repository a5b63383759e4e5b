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

/** Marks of processes that are gone: a crash left runs (or nothing: a process killed between its last stop and exit). */
export function deadOwnerMarks(): string[] {
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
    if (!alive(pid) || (start && processStartTime(pid) !== start)) dead.push(path.join(DIR, name));
  }
  return dead;
}

/** After a reap scan: the marks of gone processes whose runs are all reaped say nothing more (`runs`: what is left on disk). */
export function clearMarks(marks: readonly string[], runs: readonly { state: { pid: number } }[]): void {
  const left = new Set(runs.map((r) => r.state.pid));
  for (const mark of marks) {
    if (left.has(Number(path.basename(mark).split("-")[0]))) continue;
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
