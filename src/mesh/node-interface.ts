/**
 * A node's end of the mesh: its own WireGuard interface (the kernel module where the node has
 * it, else wireguard-go), with the hub as its one peer, configured by `wg setconf` from a 0600
 * file that only that node holds: `<remoteRoot>/.mesh-<runId>/network/wireguard.conf`.
 */
import path from "node:path";
import { HarnessError } from "../errors.js";
import { shellQuote as q } from "../host/shell-quote.js";
import type { SshConnection } from "../ssh/ssh-connection.js";

export interface NodeInterface {
  ifname: string;
  /** "10.42.0.2/16". */
  address: string;
  privateKey: string;
  listenPort: number;
  hub: { publicKey: string; endpoint: string; allowedIps: string };
  /** Where the node keeps its mesh files. */
  dir: string;
}

/** The file `wg setconf` reads (wg's own format, not wg-quick's). */
export function renderWireguardConf(node: NodeInterface): string {
  return `[Interface]
PrivateKey = ${node.privateKey}
ListenPort = ${node.listenPort}

[Peer]
PublicKey = ${node.hub.publicKey}
Endpoint = ${node.hub.endpoint}
AllowedIPs = ${node.hub.allowedIps}
PersistentKeepalive = 25
`;
}

export function confPath(node: Pick<NodeInterface, "dir">): string {
  return path.posix.join(node.dir, "network", "wireguard.conf");
}

/** Prints what the node lacks to join the mesh. */
export const NODE_TOOLS_CHECK = `for c in ip wg; do command -v $c >/dev/null 2>&1 || echo $c; done
[ -d /sys/module/wireguard ] || command -v wireguard-go >/dev/null 2>&1 || echo wireguard-go
[ -d /sys/module/wireguard ] || [ -c /dev/net/tun ] || echo /dev/net/tun`;

/** Makes the mesh dir (owned by the login user, so that sftp can write the 0600 file into it). */
export function prepareMeshDirCommand(dir: string): string {
  return `mkdir -p ${q(`${dir}/network`)} && chown -R "$SUDO_UID:$SUDO_GID" ${q(dir)} 2>/dev/null; chmod 700 ${q(dir)} ${q(`${dir}/network`)}`;
}

/** Brings the interface up from the file (run as root); an interface of that name left by a crash goes first. */
export function upCommand(node: NodeInterface): string {
  const i = q(node.ifname);
  return `set -e
ip link del ${i} 2>/dev/null || true
if [ -d /sys/module/wireguard ] && ip link add ${i} type wireguard 2>/dev/null; then :; else
  setsid -w wireguard-go ${i} < /dev/null > /dev/null 2>&1
fi
wg setconf ${i} ${q(confPath(node))}
ip address add ${q(node.address)} dev ${i}
ip link set ${i} up`;
}

/** Removes the interface (and so wireguard-go) and the mesh dir; fine when they are gone already. */
export function downCommand(ifname: string, dir: string): string {
  return `ip link del ${q(ifname)} 2>/dev/null; rm -rf ${q(dir)}; ! ip link show ${q(ifname)} >/dev/null 2>&1`;
}

export async function bringUpNode(connection: SshConnection, node: NodeInterface, service: string): Promise<void> {
  const must = async (what: string, command: string) => {
    const result = await connection.runAsRoot(command);
    if (result.code !== 0) {
      throw new HarnessError(`Node ${connection.label}: ${what} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`, {
        code: "E_MESH",
        service,
      });
    }
  };
  const missing = (await connection.run(NODE_TOOLS_CHECK)).stdout.split("\n").filter(Boolean);
  if (missing.length > 0) {
    throw new HarnessError(`Node ${connection.label} lacks ${missing.join(", ")}, which it needs to join the WireGuard mesh: install wireguard-tools and wireguard-go (Debian) there`, {
      code: "E_MESH",
      service,
    });
  }
  await must(`creating ${node.dir}`, prepareMeshDirCommand(node.dir));
  await connection.writeFile(confPath(node), renderWireguardConf(node), 0o600);
  await must(`bringing up ${node.ifname}`, upCommand(node));
}

export async function takeDownNode(connection: SshConnection, ifname: string, dir: string): Promise<void> {
  const result = await connection.runAsRoot(downCommand(ifname, dir));
  if (result.code !== 0) {
    throw new HarnessError(`Node ${connection.label}: the mesh interface ${ifname} could not be removed: ${result.stderr.trim() || `exit ${result.code}`}`, {
      code: "E_STOP_FAILED",
    });
  }
}
