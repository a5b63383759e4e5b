/**
 * The hub: the harness host's own WireGuard interface. Every node of the mesh is a peer of it,
 * and it forwards between them. Peers are added and removed live (UAPI `set=1` for wireguard-go,
 * `wg set` for the kernel module), never by restarting the interface.
 */
import fs from "node:fs";
import { forgetInterface, watchInterface } from "../host/watchdog.js";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import type { RunState } from "../state/run-state.js";
import { hostCommand, hostCommandNow } from "../host/host-command.js";
import { mustHost } from "./mesh-command.js";
import { fingerprint, type KeyPair } from "./keys.js";
import { type InterfaceStatus, type PeerConfig, parseGet, removePeerText, setInterfaceText, setPeerText, uapiRequest, uapiSocketPath } from "./uapi.js";

const log = debugFor("mesh");

export interface HubOptions {
  ifname: string;
  keys: KeyPair;
  /** "10.42.0.1/16". */
  address: string;
  /** UDP port; absent: one the system picks. */
  listenPort?: number | undefined;
  implementation: "kernel" | "wireguard-go";
  runId: string;
}

/** The iptables rule that lets peers reach each other through the hub, and nothing more. */
export function forwardRule(ifname: string, runId: string): string[] {
  return ["FORWARD", "-i", ifname, "-o", ifname, "-m", "comment", "--comment", `meshbed-${runId}`, "-j", "ACCEPT"];
}

export class Hub {
  #listenPort = 0;

  private constructor(
    readonly options: HubOptions,
    private readonly state: RunState,
  ) {}

  get ifname(): string {
    return this.options.ifname;
  }

  get listenPort(): number {
    return this.#listenPort;
  }

  /** Creates the interface (recorded first), gives it its key, address and port, and lets peers reach each other. */
  static async create(options: HubOptions, state: RunState): Promise<Hub> {
    const hub = new Hub(options, state);
    const { ifname } = options;
    // Never take over (nor, on failure, remove) an interface that is not this run's.
    if (fs.existsSync(`/sys/class/net/${ifname}`) || fs.existsSync(uapiSocketPath(ifname))) {
      throw new HarnessError(
        `An interface ${ifname} exists already on the harness host: choose another \`network.wireguardInterface\`, or remove it if a crashed run left it (\`meshbed cleanup\`)`,
        {
          code: "E_MESH",
        },
      );
    }
    state.record({ kind: "mesh-hub", id: ifname, implementation: options.implementation });
    // Should the harness process die before teardown, its watchdog deletes the interface.
    watchInterface(ifname);
    try {
      await hub.#bringUp();
    } catch (error) {
      // Whatever of it was made goes: the caller has no hub to destroy.
      await hub.destroy().catch(() => {});
      throw error;
    }
    log(`hub ${ifname} (${options.implementation}) at ${options.address}, UDP ${hub.#listenPort}, key ${fingerprint(options.keys.publicKey)}`);
    return hub;
  }

  async #bringUp(): Promise<void> {
    const { options } = this;
    const { ifname } = options;
    if (options.implementation === "kernel") {
      await mustHost("ip", ["link", "add", ifname, "type", "wireguard"]);
    } else {
      // The parent exits 0 once the interface and its socket are ready; the daemon lives on.
      const started = await hostCommand("wireguard-go", [ifname]);
      if (started.code !== 0) {
        throw new HarnessError(`wireguard-go could not create the hub interface ${ifname} (exit ${started.code}): ${started.stderr.trim() || started.stdout.trim()}`, {
          code: "E_MESH",
        });
      }
    }
    await this.#configure({ privateKey: options.keys.privateKey, listenPort: options.listenPort ?? 0, peers: [] });
    await mustHost("ip", ["address", "add", options.address, "dev", ifname]);
    await mustHost("ip", ["link", "set", ifname, "up"]);
    this.#listenPort = (await this.status()).listenPort ?? 0;
    await this.#allowForwarding();
  }

  /** Adds a peer, or changes what the hub knows of it. */
  async setPeer(peer: PeerConfig): Promise<void> {
    log(`hub ${this.ifname}: peer ${fingerprint(peer.publicKey)} ${peer.allowedIps.join(",")} at ${peer.endpoint ?? "(learnt)"}`);
    if (this.options.implementation === "wireguard-go") {
      await uapiRequest(uapiSocketPath(this.ifname), setPeerText(peer), `Adding a peer to ${this.ifname}`);
      return;
    }
    const args = ["set", this.ifname, "peer", peer.publicKey, "allowed-ips", peer.allowedIps.join(","), "persistent-keepalive", String(peer.persistentKeepalive ?? 0)];
    if (peer.endpoint) args.push("endpoint", peer.endpoint);
    await mustHost("wg", args);
  }

  /** Removes a peer at once: its sessions end, its packets are dropped. */
  async removePeer(publicKey: string): Promise<void> {
    log(`hub ${this.ifname}: removing peer ${fingerprint(publicKey)}`);
    if (this.options.implementation === "wireguard-go") {
      await uapiRequest(uapiSocketPath(this.ifname), removePeerText(publicKey), `Removing a peer from ${this.ifname}`);
      return;
    }
    await mustHost("wg", ["set", this.ifname, "peer", publicKey, "remove"]);
  }

  async status(): Promise<InterfaceStatus> {
    if (this.options.implementation === "wireguard-go") {
      return parseGet(await uapiRequest(uapiSocketPath(this.ifname), "get=1\n\n", `Reading ${this.ifname}`));
    }
    return parseWgDump(await mustHost("wg", ["show", this.ifname, "dump"]));
  }

  /** Resolves once every key has completed a handshake; rejects after `ms` naming the ones that did not. */
  async waitForHandshakes(publicKeys: readonly string[], ms: number, describe: (key: string) => string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const peers = (await this.status()).peers;
      const missing = publicKeys.filter((k) => !peers.some((p) => p.publicKey === k && p.lastHandshake > 0));
      if (missing.length === 0) return;
      if (Date.now() > deadline) {
        throw new HarnessError(
          `No WireGuard handshake with ${missing.map(describe).join(", ")} within ${ms / 1000} s (hub ${this.ifname} listens on UDP ${this.listenPort}): ` +
            "check that UDP reaches the hub from the node or the node from the hub (firewalls), or set `network.hubEndpoint` to the hub's address as the node sees it",
          { code: "E_MESH" },
        );
      }
      await sleep(50);
    }
  }

  /** Removes the interface (which ends wireguard-go) and undoes the forwarding it was given. */
  async destroy(): Promise<void> {
    const errors: string[] = [];
    for (const resource of [...this.state.resources].reverse()) {
      if (resource.kind === "mesh-iptables") {
        const rule = resource.rule as string[];
        const r = await hostCommand("iptables", ["-w", "5", "-D", ...rule]);
        if (r.code !== 0 && !/does a matching rule exist|Bad rule/i.test(r.stderr)) errors.push(`iptables -D ${rule.join(" ")}: ${r.stderr.trim()}`);
        else this.state.forget("mesh-iptables", resource.id);
      }
    }
    const link = await hostCommand("ip", ["link", "del", this.ifname]);
    if (link.code !== 0 && fs.existsSync(`/sys/class/net/${this.ifname}`)) errors.push(`ip link del ${this.ifname}: ${link.stderr.trim()}`);
    // wireguard-go removes its socket as it ends; wait for it, so that a next run may use the name.
    for (let i = 0; i < 40 && fs.existsSync(uapiSocketPath(this.ifname)); i++) await sleep(25);
    for (const resource of this.state.resources.filter((r) => r.kind === "mesh-sysctl")) this.state.forget("mesh-sysctl", resource.id);
    if (errors.length > 0) throw new HarnessError(`The mesh's hub was not removed completely: ${errors.join("; ")}`, { code: "E_STOP_FAILED" });
    this.state.forget("mesh-hub", this.ifname);
    forgetInterface(this.ifname);
    log(`hub ${this.ifname} removed`);
  }

  /** Last resort on `exit`: synchronous, never throws. */
  static removeNow(ifname: string, rules: readonly string[][]): void {
    for (const rule of rules) hostCommandNow("iptables", ["-w", "5", "-D", ...rule]);
    hostCommandNow("ip", ["link", "del", ifname]);
  }

  async #configure(config: Parameters<typeof setInterfaceText>[0]): Promise<void> {
    if (this.options.implementation === "wireguard-go") {
      await uapiRequest(uapiSocketPath(this.ifname), setInterfaceText(config), `Configuring ${this.ifname}`);
      return;
    }
    // The kernel has no UAPI socket: `wg` reads the key from a 0600 file of the run's own dir.
    const keyFile = path.join(this.state.dir, "hub.key");
    this.state.writePrivate(keyFile, `${config.privateKey}\n`);
    try {
      await mustHost("wg", ["set", this.ifname, "private-key", keyFile, "listen-port", String(config.listenPort ?? 0)]);
    } finally {
      fs.rmSync(keyFile, { force: true });
    }
  }

  /**
   * Forwarding only where the mesh needs it: on the hub interface (packets that arrive on it may
   * be forwarded), and an iptables rule from the hub to itself for a FORWARD policy of DROP (as
   * dockerd sets it). Both recorded, both undone.
   */
  async #allowForwarding(): Promise<void> {
    const key = `net/ipv4/conf/${this.ifname}/forwarding`;
    const file = path.join("/proc/sys", key);
    const previous = fs.readFileSync(file, "utf8").trim();
    this.state.record({ kind: "mesh-sysctl", id: key.replace(/\//g, "."), file, previous });
    fs.writeFileSync(file, "1");
    const rule = forwardRule(this.ifname, this.options.runId);
    const check = await hostCommand("iptables", ["-w", "5", "-C", ...rule]);
    if (check.code === 127) {
      log("iptables is missing: no FORWARD rule added (the FORWARD policy must then accept)");
      return;
    }
    if (check.code === 0) return;
    this.state.record({ kind: "mesh-iptables", id: rule.join(" "), rule });
    await mustHost("iptables", ["-w", "5", "-I", rule[0]!, "1", ...rule.slice(1)]);
  }
}

function parseWgDump(text: string): InterfaceStatus {
  const [first, ...rest] = text.trim().split("\n");
  const status: InterfaceStatus = { listenPort: Number(first?.split("\t")[2]), peers: [] };
  for (const line of rest) {
    const [publicKey, , endpoint, , handshake, rx, tx] = line.split("\t");
    status.peers.push({
      publicKey: publicKey!,
      endpoint: endpoint === "(none)" ? undefined : endpoint,
      lastHandshake: Number(handshake) * 1000,
      rxBytes: Number(rx),
      txBytes: Number(tx),
    });
  }
  return status;
}
