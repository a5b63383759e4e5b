import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

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
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return false;
  }
  let members = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // After the command, which may hold spaces and parentheses: state, ppid, pgrp.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) !== pgid) continue;
    if (state !== "Z" && state !== "X") return false;
    members++;
  }
  return members > 0;
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Polls until the group is empty or `ms` pass; resolves whether it is empty. */
export async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let delay = 2;
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 50);
  }
  return true;
}

/**
 * SIGTERM to the whole group, SIGKILL to whatever is left after `graceMs`: children and
 * grandchildren that stayed in the group die with the leader, SIGTERM-ignorers included.
 */
export async function terminateGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!groupAlive(pgid)) return true;
  signalGroup(pgid, "SIGTERM");
  if (await waitGroupGone(pgid, graceMs)) return true;
  signalGroup(pgid, "SIGKILL");
  return waitGroupGone(pgid, 5_000);
}
