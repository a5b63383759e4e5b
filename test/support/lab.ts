import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../../src/lab/lab.js";
import type { LabNode } from "../../src/lab/lab-options.js";
import { hasCommand, isRoot, prerequisite } from "./prerequisites.js";

/** Whether lab tests can run here: root, iproute2, sshd (scripts/system/lab-deps.sh installs them). */
export function labAvailable(): boolean {
  const present = isRoot() && hasCommand("ip") && hasCommand("nsenter") && hasCommand("ssh-keygen") && fs.existsSync("/usr/sbin/sshd");
  return prerequisite("root, iproute2 and openssh-server (the lab)", present, "Run the tests as root after scripts/system/lab-deps.sh");
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await sleep(50);
  }
}

/** The processes in a node's network namespace, with their command names. */
export async function nodeProcesses(lab: Lab, node: string): Promise<{ pid: number; command: string; args: string }[]> {
  const result: { pid: number; command: string; args: string }[] = [];
  for (const pid of await lab.pids(node)) {
    try {
      const command = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      result.push({ pid, command, args });
    } catch {
      // Ended meanwhile.
    }
  }
  return result;
}

/** The node's processes other than its sshd listener: what services and sessions left there. */
export async function extraProcesses(lab: Lab, node: string): Promise<{ pid: number; command: string; args: string }[]> {
  const listener = lab.node(node).sshdPid;
  return (await nodeProcesses(lab, node)).filter((p) => p.pid !== listener);
}

/** SIGKILL to the node's per-connection sshd processes: its connections break as on a network failure. */
export async function killSessions(lab: Lab, node: string): Promise<void> {
  for (const p of await extraProcesses(lab, node)) {
    if (p.command !== "sshd") continue;
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/** What `.remoteLan()` and `.wireguard()` need to reach a lab node. */
export function on(node: LabNode): { host: string; user: string; ssh: LabNode["ssh"] } {
  return { host: node.host, user: node.user, ssh: node.ssh };
}
