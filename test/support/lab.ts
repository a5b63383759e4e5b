import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../../src/lab/lab.js";
import type { LabNode, LabNodeOptions } from "../../src/lab/lab-options.js";
import { afterAll, beforeAll } from "vitest";
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

/**
 * A lab for the tests of one `describe`: created before its first test, destroyed after its
 * last. Call inside the `describe`; read the lab through the returned function.
 */
export function labForSuite(nodes: readonly LabNodeOptions[]): () => Lab {
  let lab: Lab | undefined;
  beforeAll(async () => {
    const { Lab } = await import("../../src/public/lab.js");
    lab = await Lab.create({ nodes });
  });
  afterAll(() => lab?.destroy());
  return () => {
    if (!lab) throw new Error("labForSuite: the lab is made in beforeAll; read it inside a test");
    return lab;
  };
}

/** A request made from inside a node (its own network); "failed" when no answer comes within `ms`. */
export async function fetchFromNode(lab: Lab, node: string, url: string, ms: number): Promise<string> {
  // Exits at once: an aborted connect would otherwise hold the process until undici's own 10 s timeout.
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(${ms}) }).then(async (r) => console.log(await r.text()), () => console.log("failed")).finally(() => process.exit(0))`;
  return (await lab.exec(node, [process.execPath, "-e", script])).stdout.trim();
}
