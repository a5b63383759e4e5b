/**
 * The WireGuard mesh of one run: the hub on the harness host, and one interface on every node
 * that joins (WireGuard nodes, and LAN nodes that host services). Made only when the topology
 * has a `wireguard` service; everything it creates is recorded in the run state as it is made.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import type { Plan } from "../plan/plan.js";
import type { MeshAccess, RunningService } from "../runtimes/runtime.js";
import { nodeForState } from "../ssh/node-record.js";
import type { SshConnection } from "../ssh/ssh-connection.js";
import { resolveDestination } from "../ssh/ssh-destination.js";
import type { RemoteTarget } from "../runtimes/ssh/ssh-options.js";
import type { SshPool } from "../ssh/ssh-pool.js";
import { DEFAULT_MESH_SUBNET } from "../topology/harness-options.js";
import { targetOptions } from "../topology/target-options.js";
import type { NetworkOptions } from "../topology/types.js";
import type { RunState } from "../state/run-state.js";
import { formatCidr, parseCidr } from "../host/cidr.js";
import { Hub } from "./hub.js";
import { type KeyPair, fingerprint, generateKeyPair, publicKeyOf } from "./keys.js";
import type { MeshControl, PeerStatus } from "./mesh-control.js";
import { onMesh } from "./mesh-peer.js";
import { bringUpNode, takeDownNode } from "./node-interface.js";

const log = debugFor("mesh");
/** How long the first handshake of every node may take before the start fails. */
const HANDSHAKE_MS = 20_000;

/** One machine of the mesh other than the hub. */
interface MeshNode {
  /** Its resolved address (how the hub reaches it). */
  address: string;
  meshIp: string;
  services: string[];
  keys: KeyPair;
  connection: SshConnection;
  target: RemoteTarget;
  dir: string;
  /** The hub as this node reaches it. */
  hubEndpoint: string;
  up: boolean;
  /** Whether the hub has it as a peer now. */
  peered: boolean;
  /** Revoked: it stays off the mesh for the rest of the run, restarts included. */
  revoked: boolean;
}

/** The interface name of a run: `wg-<runId>`, at most 15 characters (or `network.wireguardInterface`). */
export function meshInterfaceName(runId: string, configured: string | undefined): string {
  return configured ?? `wg-${runId}`.slice(0, 15);
}

/** The UDP port every node's interface listens on: fixed per run, so that the hub knows it before the node starts. */
export function nodeListenPort(runId: string): number {
  return 20_000 + (createHash("sha256").update(runId).digest().readUInt32BE(0) % 30_000);
}

/**
 * The hub's endpoint as every node should dial it, when the user says (`network.hubEndpoint`, else
 * `HARNESS_ENDPOINT`): the hub then listens on its port.
 */
export function hubEndpointOverride(network: Readonly<NetworkOptions>): string | undefined {
  const value = network.hubEndpoint ?? process.env.HARNESS_ENDPOINT;
  if (value === undefined || value === "") return undefined;
  if (!/^[^\s:]+:\d{1,5}$/.test(value)) {
    throw new HarnessError(`HARNESS_ENDPOINT must be "host:port" (the hub's address and UDP port as WireGuard nodes reach it), got ${JSON.stringify(value)}`, { code: "E_MESH" });
  }
  return value;
}

export class Mesh implements MeshControl, MeshAccess {
  readonly ifname: string;
  readonly hubIp: string;
  readonly subnet: string;
  readonly #nodes = new Map<string, MeshNode>();
  readonly #byService = new Map<string, MeshNode>();
  /** The services of the mesh's nodes that run now. */
  readonly #running = new Set<string>();
  #hub: Hub | undefined;
  #hubKeys = generateKeyPair();
  #down: Promise<void> | undefined;

  constructor(
    readonly plan: Plan,
    private readonly network: Readonly<NetworkOptions>,
    private readonly pool: SshPool,
    readonly implementation: "kernel" | "wireguard-go",
  ) {
    this.ifname = meshInterfaceName(plan.runId, network.wireguardInterface);
    this.subnet = formatCidr(parseCidr(network.wireguardSubnet ?? DEFAULT_MESH_SUBNET)!);
    this.hubIp = plan.hostAddresses.hubMeshIp!;
    for (const service of Object.values(plan.services)) {
      const meshIp = service.placement.meshIp;
      if (meshIp === undefined || (service.target !== "remote_lan" && service.target !== "wireguard")) continue;
      const target: RemoteTarget & { wireguardKey?: string } = targetOptions(service.spec, "remote_lan", "wireguard");
      const address = service.placement.lanIp!;
      let node = this.#nodes.get(address);
      if (!node) {
        const hubHost = plan.hostAddresses.lanIpToward?.[address];
        node = {
          address,
          meshIp,
          services: [],
          keys: generateKeyPair(),
          connection: pool.acquire(resolveDestination(target.host, target.user, target.ssh, service.name), service.name),
          target,
          dir: path.posix.join(target.remoteRoot, `.mesh-${plan.runId}`),
          hubEndpoint: hubEndpointOverride(network) ?? (hubHost ? `${hubHost}:` : ""),
          up: false,
          peered: false,
          revoked: false,
        };
        this.#nodes.set(address, node);
      }
      if (target.wireguardKey) node.keys = { privateKey: target.wireguardKey, publicKey: publicKeyOf(target.wireguardKey) };
      node.services.push(service.name);
      this.#byService.set(service.name, node);
    }
  }

  get prefix(): number {
    return Number(this.subnet.split("/")[1]);
  }

  get interfaceName(): string {
    return this.ifname;
  }

  /** The hub, its peers, then every node's interface (both ends configured before any traffic); waits for every handshake. */
  async up(state: RunState): Promise<void> {
    const hubPort = hubEndpointOverride(this.network)?.split(":").at(-1);
    this.#hub = await Hub.create(
      {
        ifname: this.ifname,
        keys: this.#hubKeys,
        address: `${this.hubIp}/${this.prefix}`,
        listenPort: hubPort === undefined ? undefined : Number(hubPort),
        implementation: this.implementation,
        runId: this.plan.runId,
      },
      state,
    );
    const port = nodeListenPort(this.plan.runId);
    for (const node of this.#nodes.values()) await this.#peer(node);
    await Promise.all(
      [...this.#nodes.values()].map(async (node) => {
        if (node.hubEndpoint.endsWith(":")) node.hubEndpoint += String(this.#hub!.listenPort);
        if (node.hubEndpoint === "") {
          throw new HarnessError(`The hub's address as node ${node.connection.label} sees it is unknown: set \`network.hubEndpoint\` (or HARNESS_ENDPOINT)`, {
            code: "E_MESH",
            service: node.services[0],
          });
        }
        state.record({
          kind: "mesh-node",
          id: `${node.connection.label}:${this.ifname}`,
          node: nodeForState(node.target.host, node.target.user, node.target.ssh),
          ifname: this.ifname,
          dir: node.dir,
        });
        await bringUpNode(
          node.connection,
          {
            ifname: this.ifname,
            address: `${node.meshIp}/${this.prefix}`,
            privateKey: node.keys.privateKey,
            listenPort: port,
            hub: { publicKey: this.#hubKeys.publicKey, endpoint: node.hubEndpoint, allowedIps: this.subnet },
            dir: node.dir,
          },
          node.services[0]!,
        );
        node.up = true;
        log(`node ${node.connection.label} joined as ${node.meshIp} (key ${fingerprint(node.keys.publicKey)}), hub at ${node.hubEndpoint}`);
      }),
    );
    const keys = [...this.#nodes.values()].map((n) => n.keys.publicKey);
    await this.#hub.waitForHandshakes(keys, HANDSHAKE_MS, (key) => {
      const node = [...this.#nodes.values()].find((n) => n.keys.publicKey === key)!;
      return `node ${node.connection.label} (${node.services.join(", ")})`;
    });
  }

  /** Whether `service` runs on a node of the mesh (a WireGuard node, or a LAN node that joined). */
  has(service: string): boolean {
    return this.#byService.has(service);
  }

  onMesh(service: string, start: () => Promise<RunningService>): Promise<RunningService> {
    return onMesh(this, service, start);
  }

  /** A service is starting: its node is (again) a peer of the hub, unless it was revoked. */
  async serviceStarting(service: string): Promise<void> {
    this.#running.add(service);
    const node = this.#byService.get(service);
    if (node && !node.peered && !node.revoked) await this.#peer(node);
  }

  /** A service stopped: its node leaves the hub once none of its services runs. */
  async serviceStopped(service: string): Promise<void> {
    this.#running.delete(service);
    const node = this.#byService.get(service);
    if (!node?.peered || node.services.some((s) => this.#running.has(s))) return;
    await this.#unpeer(node);
  }

  /** Cuts the node of `service` off the mesh at once: the hub forgets its key, its traffic stops. */
  async revoke(service: string): Promise<void> {
    const node = this.#byService.get(service);
    if (!node) {
      throw new HarnessError(`Service "${service}" is not on the mesh (only wireguard services and the LAN nodes that host services are)`, {
        code: "E_MESH",
        service,
      });
    }
    node.revoked = true;
    if (node.peered) await this.#unpeer(node);
  }

  /** The hub's view of each node: its key's fingerprint, endpoint and last handshake. */
  async peers(): Promise<PeerStatus[]> {
    const status = this.#hub ? await this.#hub.status() : { peers: [] };
    return [...this.#nodes.values()].map((node) => {
      const peer = status.peers.find((p) => p.publicKey === node.keys.publicKey);
      return {
        node: node.connection.label,
        services: [...node.services],
        meshIp: node.meshIp,
        publicKey: node.keys.publicKey,
        connected: peer !== undefined,
        endpoint: peer?.endpoint,
        lastHandshake: peer?.lastHandshake ?? 0,
      };
    });
  }

  /** Removes every node's interface, then the hub; runs once; tries everything. */
  down(state: RunState): Promise<void> {
    this.#down ??= this.#teardown(state);
    return this.#down;
  }

  async #teardown(state: RunState): Promise<void> {
    const errors: string[] = [];
    await Promise.all(
      [...this.#nodes.values()].map(async (node) => {
        try {
          if (node.up || state.resources.some((r) => r.kind === "mesh-node" && r.id === `${node.connection.label}:${this.ifname}`)) {
            await takeDownNode(node.connection, this.ifname, node.dir);
          }
          state.forget("mesh-node", `${node.connection.label}:${this.ifname}`);
          node.up = false;
        } catch (error) {
          errors.push((error as Error).message);
        } finally {
          await this.pool.release(node.connection);
        }
      }),
    );
    try {
      await this.#hub?.destroy();
    } catch (error) {
      errors.push((error as Error).message);
    }
    if (errors.length > 0) throw new HarnessError(`The WireGuard mesh was not removed completely: ${errors.join("; ")}`, { code: "E_STOP_FAILED" });
  }

  async #peer(node: MeshNode): Promise<void> {
    // The hub also keeps the tunnel alive: whichever side is behind NAT, one of them gets through.
    await this.#hub!.setPeer({
      publicKey: node.keys.publicKey,
      endpoint: `${node.address}:${nodeListenPort(this.plan.runId)}`,
      allowedIps: [`${node.meshIp}/32`],
      persistentKeepalive: 25,
    });
    node.peered = true;
  }

  async #unpeer(node: MeshNode): Promise<void> {
    await this.#hub!.removePeer(node.keys.publicKey);
    node.peered = false;
  }
}
