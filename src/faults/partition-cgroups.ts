import fs from "node:fs";
import path from "node:path";
import type { TcpConnection } from "./partition-rules.js";
import { listProcStats } from "../host/proc-stat.js";

/**
 * A process of the harness host has no address of its own, so a partition tells its traffic
 * apart by its cgroup (iptables `-m cgroup --path`): at `partition()` its process group moves into
 * a cgroup v2 of the run's own (`mb-<runId>-<service>`), which its sockets made from then on carry;
 * its connections already open are found by their socket inodes (their local ports). At `heal()`
 * its processes go back to the cgroup they came from and the cgroup is removed.
 * Where there is no writable cgroup v2 (not root, no unified hierarchy), partitions fall back to
 * the destination only, which also cuts the host's other processes from that destination.
 */

/** Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid hosts), if writable. */
export function cgroupRoot(): string | undefined {
  let mounts: string;
  try {
    mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return undefined;
  }
  for (const line of mounts.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!before || !after || after.split(" ")[0] !== "cgroup2") continue;
    const mountPoint = before.split(" ")[4]!;
    try {
      fs.accessSync(path.join(mountPoint, "cgroup.procs"), fs.constants.W_OK);
      return mountPoint;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function cgroupName(runId: string, service: string): string {
  return `mb-${runId}-${service}`;
}

/** The members of a process group (from /proc). */
export function groupPids(pgid: number): number[] {
  return listProcStats()
    .filter((stat) => stat.pgid === pgid)
    .map((stat) => stat.pid);
}

/** A process's cgroup v2 path ("/" for the root), as /proc/<pid>/cgroup gives it. */
export function cgroupOf(pid: number): string | undefined {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("0::"));
    return line?.slice(3);
  } catch {
    return undefined;
  }
}

/** Moves `pids` into the cgroup at `dir` (made if missing); returns where each came from. */
export function moveInto(dir: string, pids: readonly number[]): Map<number, string> {
  fs.mkdirSync(dir, { recursive: true });
  const from = new Map<number, string>();
  for (const pid of pids) {
    const origin = cgroupOf(pid);
    try {
      fs.writeFileSync(path.join(dir, "cgroup.procs"), String(pid));
      if (origin !== undefined) from.set(pid, origin);
    } catch {
      // Ended meanwhile.
    }
  }
  return from;
}

/**
 * Moves every process left in the cgroup back to where it came from (the root when unknown) and
 * removes it. Throws if it cannot be removed.
 */
export function removeCgroup(root: string, dir: string, origins: ReadonlyMap<number, string> = new Map()): void {
  if (!fs.existsSync(dir)) return;
  for (let attempt = 0; attempt < 5; attempt++) {
    let pids: number[];
    try {
      pids = fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return;
    }
    for (const pid of pids) {
      const back = path.join(root, origins.get(pid) ?? "/", "cgroup.procs");
      try {
        fs.writeFileSync(back, String(pid));
      } catch {
        try {
          fs.writeFileSync(path.join(root, "cgroup.procs"), String(pid));
        } catch {
          // Ended meanwhile.
        }
      }
    }
    try {
      fs.rmdirSync(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      if (attempt === 4) throw error;
    }
  }
}

/**
 * The TCP connections the processes `pids` have open, by their local port and where they go: found
 * by the socket inodes of their fds in /proc/net/tcp (the host's network namespace).
 */
export function tcpConnections(pids: readonly number[]): TcpConnection[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  if (inodes.size === 0) return [];
  const connections: TcpConnection[] = [];
  let table: string;
  try {
    table = fs.readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return [];
  }
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !inodes.has(f[9]!)) continue;
    const [remoteIp, remotePort] = f[2]!.split(":");
    connections.push({ localPort: Number.parseInt(f[1]!.split(":")[1]!, 16), remoteIp: ipOfHex(remoteIp!), remotePort: Number.parseInt(remotePort!, 16) });
  }
  return connections;
}

/** An IPv4 address from /proc/net/tcp's form: the 4 bytes in host (little-endian) order, as hex. */
function ipOfHex(hex: string): string {
  return (hex.match(/../g) ?? [])
    .map((b) => Number.parseInt(b, 16))
    .reverse()
    .join(".");
}
