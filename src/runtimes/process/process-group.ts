import { setTimeout as sleep } from "node:timers/promises";
import { readProcStat } from "../../host/proc-stat.js";
import { membersOf } from "./group-members.js";

/**
 * Whether any process of the group is left. A zombie does not count: it is dead, only not yet
 * reaped, and an orphaned grandchild is reaped by init, which some inits do late (seconds) and a
 * container's PID 1 often never does. `reaped`: the group's leader, which this process has reaped
 * (its members are then looked for among the pids made since, see `membersOf`).
 */
export function groupAlive(pgid: number, reaped?: Leader): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !onlyZombiesLeft(pgid, reaped);
}

/** Whether /proc shows members of the group and every one is a zombie; false where it cannot tell. */
function onlyZombiesLeft(pgid: number, reaped: Leader | undefined): boolean {
  // Most often the leader itself is alive: one read decides.
  const leader = reaped ? undefined : readProcStat(pgid);
  if (leader && leader.pgid === pgid && leader.state !== "Z" && leader.state !== "X") return false;
  const members = membersOf(pgid, reaped?.forksBefore);
  return members.live === 0 && members.zombies > 0;
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
  /** The kernel's count of processes made before its spawn (`forksSoFar`), if known. */
  readonly forksBefore: number | undefined;
}

/** Polls until the group is empty or `ms` pass; resolves whether it is empty. */
export async function waitGroupGone(pgid: number, ms: number, leader?: Leader): Promise<boolean> {
  const deadline = Date.now() + ms;
  let delay = 2;
  while (leader ? !leader.exited() || groupAlive(pgid, leader) : groupAlive(pgid)) {
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
