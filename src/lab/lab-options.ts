import fs from "node:fs";
import path from "node:path";
import { HarnessError } from "../errors.js";
import { DOCKERD } from "./lab-docker.js";
import { SSHD } from "./lab-node.js";
import type { LabNetwork } from "./lab-state.js";

export interface LabNodeOptions {
  /** Lowercase letters, digits and `-`, starting with a letter; at most 20 characters. */
  name: string;
  /** `lan`: on a bridge with the harness host. `wan`: on another network, reached only by routing. */
  network: LabNetwork;
  /** The account the node's sshd lets in (created with `/bin/sh` when missing). Default: "root". */
  user?: string;
  /** Whether a `user` other than root may become root with `sudo -n` (a rule of the node's own sudoers.d). Default: true. */
  sudo?: boolean;
  /**
   * WAN nodes only: a NAT router (a namespace with iptables MASQUERADE) between the node and the
   * WAN. "node": the node is behind it (private address; only SSH is forwarded in, and `host` is
   * the router's address). "host": the harness host is behind it as the node sees it (everything
   * reaches the node from the router's address; the node cannot open connections out). Default: none.
   */
  nat?: "node" | "host";
  /**
   * A Docker engine of the node's own: a real dockerd (and its containerd) in the node's namespaces,
   * its data-root under the lab's dir, listening on the node's /var/run/docker.sock. Needs dockerd
   * (Debian `docker.io`) on the harness host. Default: false.
   */
  docker?: boolean;
}

export interface LabOptions {
  nodes: readonly LabNodeOptions[];
  /** Names everything the lab creates (`mb-<id>-…`): 1 to 6 lowercase letters and digits. Default: random. */
  id?: string;
  /** Let the lab outlive the process that created it (`meshbed lab up`); otherwise the next `Lab.create` reaps it once that process is gone. Default: false. */
  keep?: boolean;
  /** Where labs keep their state, keys and logs. Default: "/run/meshbed-lab". */
  root?: string;
}

/** What a test needs to reach a node: spread `ssh` into `.remoteLan()` or `.wireguard()` options. */
export interface LabNode {
  readonly name: string;
  readonly network: LabNetwork;
  /** Its NAT router, if it has one (see `LabNodeOptions.nat`). */
  readonly nat?: "node" | "host";
  /** The node's network namespace. */
  readonly namespace: string;
  /** The node's address (its sshd listens on port 22 there). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The client key every node of the lab accepts (OpenSSH format). */
  readonly privateKey: string;
  readonly identityFile: string;
  /** A known_hosts file with the host key of every node of the lab. */
  readonly knownHostsFile: string;
  /** The node's public host key ("ssh-ed25519 AAAA… comment"). */
  readonly hostKey: string;
  /** The harness host's address as this node reaches it. */
  readonly hostIp: string;
  /** The pid of the node's sshd (the listener; each connection has processes of its own). */
  readonly sshdPid: number | undefined;
  /** The log of the node's sshd (`-e`, LogLevel VERBOSE): every connection and key it saw. */
  readonly sshdLog: string;
  readonly ssh: { port: number; identityFile: string; knownHostsFile: string; strictHostKeyChecking: "yes" };
  /** With `docker: true`: the node's engine as the harness host reaches it without SSH (`unix://…`, for DOCKER_HOST). */
  readonly dockerHost?: string;
  /** With `docker: true`: the pid of the node's dockerd. */
  readonly dockerdPid?: number;
}

const NODE_NAME = /^[a-z][a-z0-9-]{0,19}$/;
const LAB_ID = /^[a-z0-9]{1,6}$/;
/** The name of the namespace of the lab's bridges and router (`mb-<id>-net`): not a node name. */
export const INFRA = "net";

export function validateLabOptions(options: LabOptions): void {
  if (options.id !== undefined && !LAB_ID.test(options.id)) {
    throw new HarnessError(`Expected the lab \`id\` to be 1 to 6 lowercase letters and digits, got ${JSON.stringify(options.id)}`, { code: "E_CONFIG" });
  }
  if (options.nodes.length === 0) throw new HarnessError("A lab needs at least one node in `nodes`", { code: "E_CONFIG" });
  const seen = new Set<string>();
  for (const [i, node] of options.nodes.entries()) {
    if (!NODE_NAME.test(node.name) || node.name === INFRA) {
      throw new HarnessError(
        `Expected \`nodes[${i}].name\` to be lowercase letters, digits and -, starting with a letter, at most 20 characters, and not "${INFRA}"; got ${JSON.stringify(node.name)}`,
        { code: "E_CONFIG" },
      );
    }
    if (seen.has(node.name)) throw new HarnessError(`Lab node "${node.name}" is defined twice`, { code: "E_CONFIG" });
    seen.add(node.name);
    if (node.network !== "lan" && node.network !== "wan") {
      throw new HarnessError(`Expected \`nodes[${i}].network\` to be "lan" or "wan", got ${JSON.stringify(node.network)}`, { code: "E_CONFIG" });
    }
    if (node.nat !== undefined && (node.network !== "wan" || (node.nat !== "node" && node.nat !== "host"))) {
      throw new HarnessError(`Expected \`nodes[${i}].nat\` to be "node" or "host" on a wan node, got ${JSON.stringify(node.nat)} on a ${node.network} node`, { code: "E_CONFIG" });
    }
    if (node.docker !== undefined && typeof node.docker !== "boolean") {
      throw new HarnessError(`Expected \`nodes[${i}].docker\` to be true or false, got ${JSON.stringify(node.docker)}`, { code: "E_CONFIG" });
    }
    if (node.sudo !== undefined && typeof node.sudo !== "boolean") {
      throw new HarnessError(`Expected \`nodes[${i}].sudo\` to be true or false, got ${JSON.stringify(node.sudo)}`, { code: "E_CONFIG" });
    }
    if (node.user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(node.user)) {
      throw new HarnessError(`Expected \`nodes[${i}].user\` to be a user name, got ${JSON.stringify(node.user)}`, { code: "E_CONFIG" });
    }
  }
}

/** Root, Linux and the tools the lab runs; says what is missing and how to get it. */
export async function checkHost(options?: LabOptions): Promise<void> {
  if (process.platform !== "linux") throw new HarnessError("The lab needs Linux (network namespaces)", { code: "E_LAB" });
  if (process.getuid?.() !== 0) {
    throw new HarnessError("The lab needs root (it creates network namespaces, links and mounts): run the tests as root, or under sudo", {
      code: "E_LAB",
    });
  }
  const missing = ["ip", "nsenter", "ssh-keygen", "ss", "useradd"].filter((c) => !onPath(c));
  if (!fs.existsSync(SSHD)) missing.push(SSHD);
  if (options?.nodes.some((n) => n.docker) && !fs.existsSync(DOCKERD)) {
    throw new HarnessError(`A lab node with \`docker: true\` needs ${DOCKERD} on this host: install Debian's docker.io (scripts/system/docker.sh)`, { code: "E_LAB" });
  }
  if (missing.length > 0) {
    throw new HarnessError(`The lab needs ${missing.join(", ")}: run scripts/system/lab-deps.sh (Debian: openssh-server, iproute2, iptables, sudo)`, {
      code: "E_LAB",
    });
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").some((dir) => dir && fs.existsSync(path.join(dir, command)));
}
