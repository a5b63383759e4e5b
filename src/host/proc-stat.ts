import fs from "node:fs";

/** What `/proc/<pid>/stat` says of a process: the fields meshbed reads (Linux). */
export interface ProcStat {
  pid: number;
  /** R, S, D, T…; Z (a zombie) and X are dead, only not yet reaped. */
  state: string;
  ppid: number;
  /** Its process group. */
  pgid: number;
  /** When it started, in clock ticks since boot (field 22): tells a reused pid apart. */
  startTime: number;
}

/** The process's stat; undefined when it is gone (or was never there). */
export function readProcStat(pid: number | string): ProcStat | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ")".
  // From there: state, ppid, pgrp, … starttime (the 20th).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pid: Number(pid), state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: Number(fields[19]) };
}

/** Every process of /proc now (one that ends meanwhile is left out). Throws if /proc cannot be listed. */
export function listProcStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(entry);
    if (stat) stats.push(stat);
  }
  return stats;
}

/** When the process started (clock ticks since boot), or null when it is gone. */
export function processStartTime(pid: number): number | null {
  return readProcStat(pid)?.startTime ?? null;
}

let own: number | null | undefined;

/** When this process started: read once (every run's state and mark name it). */
export function ownStartTime(): number | null {
  if (own === undefined) own = processStartTime(process.pid);
  return own;
}
