import { setTimeout as sleep } from "node:timers/promises";
import { type ProcStat, listProcStats, readProcStat } from "../../host/proc-stat.js";

/**
 * Whether any process of the group is left. A zombie does not count: it is dead, only not yet
 * reaped, and an orphaned grandchild is reaped by init, which some inits do late (seconds) and a
 * container's PID 1 often never does.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !onlyZombiesLeft(pgid);
}

/** Whether /proc shows members of the group and every one is a zombie; false where it cannot tell. */
function onlyZombiesLeft(pgid: number): boolean {
  // Most often the leader itself is alive: one read decides.
  const leader = readProcStat(pgid);
  if (leader && leader.pgid === pgid && !dead(leader.state)) return false;
  const members = groupsNow().get(pgid);
  return members !== undefined && members.live === 0 && members.zombies > 0;
}

interface Members {
  live: number;
  zombies: number;
}

let scan: Map<number, Members> | undefined;

/**
 * Every process group of /proc, read once per turn of the event loop: 50 services stopping at once
 * poll together, and a scan each cost more than their whole stop.
 */
function groupsNow(): Map<number, Members> {
  if (scan) return scan;
  const groups = new Map<number, Members>();
  let stats: ProcStat[] = [];
  try {
    stats = listProcStats();
  } catch {
    // Unknown: no group is reported dead.
  }
  for (const stat of stats) {
    const members = groups.get(stat.pgid) ?? { live: 0, zombies: 0 };
    if (dead(stat.state)) members.zombies++;
    else members.live++;
    groups.set(stat.pgid, members);
  }
  scan = groups;
  setImmediate(() => {
    scan = undefined;
  }).unref();
  return groups;
}

function dead(state: string): boolean {
  return state === "Z" || state === "X";
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/**
 * The group's leader where this process is its parent: until its `exit` event the group is alive
 * (a dead leader stays a zombie until Node reaps it), so no check of /proc is needed meanwhile; and
 * the event ends a wait at once, since a group most often ends with its leader.
 */
export interface Leader {
  exited(): boolean;
  readonly exit: Promise<unknown>;
}

/** Polls until the group is empty or `ms` pass; resolves whether it is empty. */
export async function waitGroupGone(pgid: number, ms: number, leader?: Leader): Promise<boolean> {
  const deadline = Date.now() + ms;
  let delay = 2;
  while (leader ? !leader.exited() || groupAlive(pgid) : groupAlive(pgid)) {
    if (Date.now() >= deadline) return false;
    const wait = sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    await (leader && !leader.exited() ? Promise.race([wait, leader.exit]) : wait);
    delay = Math.min(delay * 2, 50);
  }
  return true;
}

/**
 * SIGTERM to the whole group, SIGKILL to whatever is left after `graceMs`: children and
 * grandchildren that stayed in the group die with the leader, SIGTERM-ignorers included.
 */
export async function terminateGroup(pgid: number, graceMs: number, leader?: Leader): Promise<boolean> {
  if (leader?.exited() !== false && !groupAlive(pgid)) return true;
  signalGroup(pgid, "SIGTERM");
  if (await waitGroupGone(pgid, graceMs, leader)) return true;
  signalGroup(pgid, "SIGKILL");
  return waitGroupGone(pgid, 5_000, leader);
}
