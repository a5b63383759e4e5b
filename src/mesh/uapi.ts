/**
 * WireGuard's cross-platform userspace API (the text protocol of wireguard-go's
 * `/var/run/wireguard/<if>.sock`): `set=1` to change an interface live, `get=1` to read it.
 */
import net from "node:net";
import { hexToKey, keyToHex } from "./keys.js";
import { HarnessError } from "../errors.js";

/** One peer as the harness configures it. */
export interface PeerConfig {
  publicKey: string;
  /** "ip:port", when this end knows where the other is. */
  endpoint?: string | undefined;
  allowedIps: readonly string[];
  /** Seconds; 0 or absent: off. */
  persistentKeepalive?: number | undefined;
}

export interface InterfaceConfig {
  privateKey: string;
  listenPort?: number | undefined;
  peers: readonly PeerConfig[];
}

/** `set=1` text that configures a whole interface (its peers replaced). */
export function setInterfaceText(config: InterfaceConfig): string {
  const lines = ["set=1", `private_key=${keyToHex(config.privateKey)}`];
  if (config.listenPort !== undefined) lines.push(`listen_port=${config.listenPort}`);
  lines.push("replace_peers=true");
  for (const peer of config.peers) lines.push(...peerLines(peer));
  return `${lines.join("\n")}\n\n`;
}

/** `set=1` text that adds a peer, or replaces what the interface knows of it. */
export function setPeerText(peer: PeerConfig): string {
  return `set=1\n${peerLines(peer).join("\n")}\n\n`;
}

/** `set=1` text that removes a peer at once (its sessions with it). */
export function removePeerText(publicKey: string): string {
  return `set=1\npublic_key=${keyToHex(publicKey)}\nremove=true\n\n`;
}

function peerLines(peer: PeerConfig): string[] {
  const lines = [`public_key=${keyToHex(peer.publicKey)}`];
  if (peer.endpoint) lines.push(`endpoint=${peer.endpoint}`);
  lines.push(`persistent_keepalive_interval=${peer.persistentKeepalive ?? 0}`);
  lines.push("replace_allowed_ips=true");
  for (const ip of peer.allowedIps) lines.push(`allowed_ip=${ip}`);
  return lines;
}

/** What `get=1` says of an interface: its port and, per public key, the last handshake. */
export interface InterfaceStatus {
  listenPort: number | undefined;
  peers: { publicKey: string; endpoint: string | undefined; lastHandshake: number; rxBytes: number; txBytes: number }[];
}

export function parseGet(text: string): InterfaceStatus {
  const status: InterfaceStatus = { listenPort: undefined, peers: [] };
  let peer: InterfaceStatus["peers"][number] | undefined;
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i < 0) continue;
    const key = line.slice(0, i);
    const value = line.slice(i + 1);
    if (key === "listen_port") status.listenPort = Number(value);
    else if (key === "public_key") {
      peer = { publicKey: hexToKey(value), endpoint: undefined, lastHandshake: 0, rxBytes: 0, txBytes: 0 };
      status.peers.push(peer);
    } else if (peer && key === "endpoint") peer.endpoint = value;
    else if (peer && key === "last_handshake_time_sec") peer.lastHandshake += Number(value) * 1000;
    else if (peer && key === "last_handshake_time_nsec") peer.lastHandshake += Math.floor(Number(value) / 1e6);
    else if (peer && key === "rx_bytes") peer.rxBytes = Number(value);
    else if (peer && key === "tx_bytes") peer.txBytes = Number(value);
  }
  return status;
}

/** The `errno=N` that ends every answer; throws on a non-zero one. */
export function checkErrno(answer: string, what: string): string {
  const m = /errno=(-?\d+)\n*$/.exec(answer);
  if (!m) throw new HarnessError(`${what}: no answer from the WireGuard interface`, { code: "E_MESH" });
  if (m[1] !== "0") throw new HarnessError(`${what}: the WireGuard interface refused it (errno ${m[1]})`, { code: "E_MESH" });
  return answer;
}

/** Sends one request over a local UAPI socket and resolves the answer (up to and with `errno=`). */
export function uapiRequest(socketPath: string, request: string, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let answer = "";
    const timer = setTimeout(() => socket.destroy(new HarnessError(`${what}: no answer within 5 s`, { code: "E_MESH" })), 5_000);
    timer.unref();
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
      if (/errno=-?\d+\n\n$/.test(answer)) socket.end();
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(new HarnessError(`${what}: ${error.message}`, { code: "E_MESH", cause: error }));
    });
    socket.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(checkErrno(`${answer.trimEnd()}\n`, what));
      } catch (error) {
        reject(error as Error);
      }
    });
    socket.write(request);
  });
}

export function uapiSocketPath(ifname: string): string {
  return `/var/run/wireguard/${ifname}.sock`;
}
