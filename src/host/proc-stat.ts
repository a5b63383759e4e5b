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
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count from the last ")".
  // From there: state, ppid, pgrp, … starttime (the 20th).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pid: Number(pid), state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: Number(fields[19]) };
}

let buffer = Buffer.alloc(4096);

/**
 * A file of /proc whole, or undefined when it cannot be read. By hand, into one buffer: a
 * `readFileSync` costs 2–3 × the kernel's part here (it stats the file first, then grows a buffer).
 */
function readProcFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.alloc(buffer.length)]);
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) return buffer.toString("latin1", 0, length);
      length += n;
    }
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** How many processes (and threads) the kernel has made since boot: /proc/stat's `processes`. */
export function forksSoFar(): number | undefined {
  const stat = readProcFile("/proc/stat");
  const at = stat?.indexOf("\nprocesses ") ?? -1;
  if (at < 0) return undefined;
  const count = Number.parseInt(stat!.slice(at + 11), 10);
  return Number.isSafeInteger(count) ? count : undefined;
}

/** The last pid the kernel gave out in this pid namespace (`ns_last_pid`). */
export function lastPid(): number | undefined {
  return numberIn("/proc/sys/kernel/ns_last_pid");
}

/** The largest pid, after which the kernel starts again from the bottom (`pid_max`). */
export function pidMax(): number | undefined {
  return numberIn("/proc/sys/kernel/pid_max");
}

function numberIn(file: string): number | undefined {
  const value = Number.parseInt(readProcFile(file) ?? "", 10);
  return Number.isSafeInteger(value) ? value : undefined;
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
