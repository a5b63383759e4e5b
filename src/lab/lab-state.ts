import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../errors.js";
import type { LabSubnets } from "./lab-subnets.js";

/** Where every lab keeps its state file, keys and sshd logs: `<root>/<id>/lab.json`. */
export const LAB_ROOT = "/run/meshbed-lab";

export type LabNetwork = "lan" | "wan";

/** One node as recorded: enough to reach it, and to tear it down. */
export interface LabNodeRecord {
  name: string;
  network: LabNetwork;
  namespace: string;
  ip: string;
  /** The harness host's address as this node reaches it. */
  hostIp: string;
  /** Behind a NAT router (`node`), or with the harness host behind one as the node sees it (`host`). */
  nat?: "node" | "host";
  user: string;
  home: string;
  dir: string;
  sshdPid?: number;
  /** The node's own dockerd (`docker: true`), stopped before the node's namespace goes. */
  dockerdPid?: number;
}

/** Everything a lab creates, recorded before it is created, so that any crash can be undone. */
export interface LabState {
  id: string;
  /** The process that created the lab; when it is gone (and `keep` is false) the lab is reaped. */
  pid: number;
  keep: boolean;
  createdAt: string;
  dir: string;
  subnets: LabSubnets;
  namespaces: string[];
  /** Links in the root namespace (removed with their namespaces, removed again by name). */
  links: string[];
  /** Accounts the lab created (removed when no other lab's node uses them). */
  users: string[];
  /** Directories of the host the lab created (mount points of nodes' private homes). */
  dirs: string[];
  nodes: LabNodeRecord[];
}

export function stateFile(root: string, id: string): string {
  return path.join(root, id, "lab.json");
}

export function saveState(root: string, state: LabState): void {
  const file = stateFile(root, state.id);
  // Searchable by all: a node's non-root user reads its authorized_keys below it.
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o711 });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readState(root: string, id: string): LabState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(root, id), "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

/** Every lab with a state file under `root`. */
export function listStates(root: string): LabState[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return [];
  }
  return entries.filter((e) => !e.startsWith(".")).flatMap((id) => readState(root, id) ?? []);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Serializes the choice of subnets and names among processes that create or reap labs at the
 * same moment. A lock whose holder is gone is taken over.
 */
export async function withLabLock<T>(root: string, body: () => Promise<T>): Promise<T> {
  fs.mkdirSync(root, { recursive: true, mode: 0o711 });
  fs.chmodSync(root, 0o711);
  const lock = path.join(root, ".lock");
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(fs.readFileSync(lock, { encoding: "utf8", flag: "r" }) || 0);
      if (holder && !processAlive(holder)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new HarnessError(`The lab lock ${lock} is held by process ${holder}: wait for it, or remove the file if that process is not a lab`, {
          code: "E_LAB",
        });
      }
      await sleep(50);
    }
  }
  try {
    return await body();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}
