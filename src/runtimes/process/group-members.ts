import fs from "node:fs";
import { type ProcStat, forksSoFar, lastPid, pidMax, readProcStat } from "../../host/proc-stat.js";

/** Who is left of a process group: its live members and its zombies. */
export interface Members {
  live: number;
  zombies: number;
}

/**
 * The members of group `pgid` that /proc shows now. `forksBefore`: the kernel's count of processes
 * made (`forksSoFar`) before the group's leader was spawned; with it only the pids given out since
 * the leader's are read. Every member was made after its leader (a group's leader is the first of
 * its session, and nothing outside a session can join its groups), and the kernel gives out pids in
 * order, round from `pid_max` to the bottom: so the members are among the pids after the leader's up
 * to the last one given out — while fewer processes were made since than would take the count
 * round to the leader's pid again (else every pid is read). A zombie of init (which some inits reap
 * a second late) then costs a read or two, not one per process of the machine.
 */
export function membersOf(pgid: number, forksBefore?: number): Members {
  const now = procNow();
  const members: Members = { live: 0, zombies: 0 };
  for (const pid of candidates(pgid, forksBefore, now)) {
    const stat = statOf(now, pid);
    if (stat?.pgid !== pgid) continue;
    if (stat.state === "Z" || stat.state === "X") members.zombies++;
    else members.live++;
  }
  return members;
}

/** /proc as read in one turn of the event loop: 50 services stopping at once poll together. */
interface ProcNow {
  lastPid: number | undefined;
  forks: number | undefined;
  /** Every pid, listed once it is needed, after `lastPid` was read. */
  all?: number[];
  stats: Map<number, ProcStat | undefined>;
}

let turn: ProcNow | undefined;

function procNow(): ProcNow {
  if (turn) return turn;
  turn = { lastPid: lastPid(), forks: forksSoFar(), stats: new Map() };
  setImmediate(() => {
    turn = undefined;
  }).unref();
  return turn;
}

/** Up to this many pids since the leader's are looked up one by one; more, and /proc is listed. */
const LOOKUPS = 64;

/**
 * The pids that may be members: those given out after the leader's, or all. Those are all given
 * out by the time `lastPid` was read, or else made by a member since (which is looked at too).
 */
function candidates(pgid: number, forksBefore: number | undefined, now: ProcNow): number[] {
  const last = forksBefore === undefined ? undefined : lastSince(forksBefore, now);
  if (last !== undefined && last >= pgid && last - pgid <= LOOKUPS) {
    const pids: number[] = [];
    for (let pid = pgid + 1; pid <= last; pid++) if (fs.existsSync(`/proc/${pid}`)) pids.push(pid);
    return pids;
  }
  now.all ??= listPids();
  return last === undefined ? now.all : now.all.filter(givenOutBetween(pgid, last));
}

/** Whether a pid lies after `first` and up to `last` in the kernel's order, which goes round past `pid_max` to the bottom. */
export function givenOutBetween(first: number, last: number): (pid: number) => boolean {
  return last >= first ? (pid) => pid > first && pid <= last : (pid) => pid > first || pid <= last;
}

function listPids(): number[] {
  const pids: number[] = [];
  try {
    for (const entry of fs.readdirSync("/proc")) {
      const pid = Number(entry);
      if (Number.isInteger(pid) && pid > 0) pids.push(pid);
    }
  } catch {
    // Unknown: no member is found, and no group is reported dead (see `groupAlive`).
  }
  return pids;
}

function statOf(now: ProcNow, pid: number): ProcStat | undefined {
  if (!now.stats.has(pid)) now.stats.set(pid, readProcStat(pid));
  return now.stats.get(pid);
}

let lap: number | undefined | null = null;

/**
 * The last pid given out, if the pids given out since the leader's all lie between the two: while
 * the kernel made fewer processes since than would take it round to the leader's pid again. Half a
 * round is the margin (a fork that fails late gives its pid back uncounted); undefined beyond that,
 * or where it cannot be told.
 */
function lastSince(forksBefore: number, now: ProcNow): number | undefined {
  if (lap === null) {
    const max = pidMax();
    // Past `pid_max` the kernel starts again above the first 300 pids (RESERVED_PIDS).
    lap = max === undefined ? undefined : Math.floor((max - 300) / 2);
  }
  if (lap === undefined || now.forks === undefined || now.forks - forksBefore >= lap) return undefined;
  return now.lastPid;
}
