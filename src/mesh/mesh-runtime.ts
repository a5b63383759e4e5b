/**
 * The `wireguard` target: services on remote nodes over SSH (the SSH runtime does that part), on
 * nodes that the harness reaches only through the WireGuard mesh, which this runtime sets up
 * before the first service of the run starts and removes after the last one stops.
 */
import dns from "node:dns/promises";
import net from "node:net";
import { ConfigError, StartError } from "../errors.js";
import type { Plan, PlannedService, ServiceIps } from "../plan/plan.js";
import { SshRuntime } from "../runtimes/ssh/ssh-runtime.js";
import { resolveDestination } from "../runtimes/ssh/ssh-destination.js";
import { targetOptions } from "../topology/target-options.js";
import { sshPool } from "../runtimes/ssh/ssh-pool.js";
import type { FactsContext, FactsContribution, RunningService, Runtime, RuntimeContext } from "../runtimes/runtime.js";
import type { NetworkOptions, ServiceSpec } from "../topology/types.js";
import type { Resource, RunState } from "../state/run-state.js";
import { hostCommand } from "./host-command.js";
import { Hub } from "./hub.js";
import { Mesh, meshInterfaceName } from "./mesh.js";
import { DEFAULT_MESH_SUBNET, type MeshMember, allocateMesh, checkMeshSubnet, routesWithLines } from "./mesh-plan.js";
import { onMesh } from "./mesh-peer.js";
import { checkHubPrivilege, hubImplementation } from "./privilege.js";

export class MeshRuntime implements Runtime {
  readonly kind = "wireguard" as const;
  readonly #ssh = new SshRuntime("wireguard", sshPool);
  #network: Readonly<NetworkOptions> = {};
  #runId = "";
  #mesh: Mesh | undefined;
  #state: RunState | undefined;

  /**
   * The nodes' addresses (from the SSH runtime), then the mesh's: the subnet checked against the
   * host's routes, the hub's address and every node's, allocated in the topology's order.
   */
  async gatherFacts(services: readonly ServiceSpec[], context: FactsContext): Promise<FactsContribution> {
    this.#network = context.spec.options.network ?? {};
    this.#runId = context.runId;
    const subnet = this.#network.wireguardSubnet ?? DEFAULT_MESH_SUBNET;
    const routes = await hostCommand("ip", ["-4", "route", "show", "table", "all"]);
    checkMeshSubnet(subnet, routesWithLines(routes.stdout));
    const facts = await this.#ssh.gatherFacts(services, context);
    const members: MeshMember[] = [];
    for (const service of context.spec.services) {
      if (service.target === "wireguard") members.push({ service: service.name, node: facts.ips![service.name]!.lanIp! });
      else if (service.target === "remote_lan") members.push({ service: service.name, node: await nodeAddress(service) });
    }
    const mesh = allocateMesh(subnet, members);
    const ips: Record<string, ServiceIps> = {};
    for (const [name, meshIp] of Object.entries(mesh.services)) ips[name] = { ...facts.ips?.[name], meshIp };
    return { ...facts, ips, addresses: { ...facts.addresses, hubMeshIp: mesh.hubIp } };
  }

  /** Before anything starts: may this host be the hub (CAP_NET_ADMIN, WireGuard), then the SSH checks. */
  async preflight(service: PlannedService): Promise<void> {
    const ifname = this.#ifname();
    checkHubPrivilege(ifname, service.name);
    if (!hubImplementation()) {
      throw new StartError(`The WireGuard mesh needs the kernel module or wireguard-go on the harness host: install wireguard-go and wireguard-tools (Debian), or load the wireguard module`, {
        code: "E_MESH",
        service: service.name,
      });
    }
    await this.#ssh.preflight(service);
  }

  async prepare(plan: Plan, state?: RunState): Promise<void> {
    if (!state) throw new Error("meshbed: the mesh needs the run state to record what it creates");
    this.#state = state;
    this.#mesh = new Mesh(plan, this.#network, sshPool, hubImplementation()!);
    await this.#mesh.up(state);
  }

  async start(service: PlannedService, context: RuntimeContext): Promise<RunningService> {
    if (!this.#mesh) throw new Error(`meshbed: wireguard service "${service.name}" started before the mesh was made`);
    return onMesh(context.plan.runId, service.name, () => this.#ssh.start(service, context));
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    await this.#ssh.dispose().catch((e: unknown) => errors.push(e));
    if (this.#mesh && this.#state) await this.#mesh.down(this.#state).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  killNow(resources: readonly Resource[]): void {
    for (const hub of resources.filter((r) => r.kind === "mesh-hub")) {
      Hub.removeNow(hub.id, resources.filter((r) => r.kind === "mesh-iptables").map((r) => r.rule as string[]));
    }
  }

  #ifname(): string {
    return meshInterfaceName(this.#runId, this.#network.wireguardInterface);
  }
}

/** The address of a LAN service's node, as the SSH runtime resolves it. */
async function nodeAddress(service: ServiceSpec): Promise<string> {
  const target = targetOptions(service, "remote_lan", "wireguard");
  const destination = resolveDestination(target.host, target.user, target.ssh, service.name);
  if (net.isIP(destination.hostName)) return destination.hostName;
  try {
    return (await dns.lookup(destination.hostName)).address;
  } catch (error) {
    throw new ConfigError(`The host ${destination.hostName} of service "${service.name}" does not resolve: fix \`host\``, { code: "E_SSH_CONNECT", service: service.name, cause: error });
  }
}
