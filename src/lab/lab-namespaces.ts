import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { mustRun, runCommand } from "./lab-command.js";
import { HarnessError } from "../errors.js";

export function ipIn(namespace: string, ...args: string[]): Promise<string> {
  return mustRun("ip", ["-n", namespace, ...args]);
}

export async function namespaceExists(namespace: string): Promise<boolean> {
  return fs.existsSync(path.join("/run/netns", namespace));
}

export async function namespacePids(namespace: string): Promise<number[]> {
  const result = await runCommand("ip", ["netns", "pids", namespace]);
  return result.stdout
    .split("\n")
    .map((l) => Number(l.trim()))
    .filter((p) => Number.isInteger(p) && p > 0);
}

/** Whether `pid` still is a process of that namespace (and not a recycled pid). */
export async function inNamespace(pid: number, namespace: string): Promise<boolean> {
  return (await namespacePids(namespace)).includes(pid);
}

/** SIGKILL to every process of the namespace, until none is left. */
export async function killNamespace(namespace: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = await namespacePids(namespace);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new HarnessError(`processes ${pids.join(", ")} of namespace ${namespace} survived SIGKILL`, { code: "E_LAB" });
    for (const pid of pids) killQuietly(pid);
    await sleep(50);
  }
}

export function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
