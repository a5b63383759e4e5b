/**
 * The mesh's part of the host facts, read before anything starts (it creates nothing): the subnet
 * checked against the host's routes, then the hub's address and every node's, allocated in the
 * topology's order. Gathered around the facts of the wireguard target's runtime, which knows the
 * WireGuard nodes' addresses.
 */
import dns from "node:dns/promises";
import net from "node:net";
import { ConfigError } from "../errors.js";
import type { ServiceIps } from "../plan/plan.js";
import type { FactsContribution } from "../runtimes/runtime.js";
import { targetOptions } from "../topology/target-options.js";
import { resolveDestination } from "../ssh/ssh-destination.js";
import { DEFAULT_MESH_SUBNET } from "../topology/harness-options.js";
import type { ServiceSpec, TopologySpec } from "../topology/types.js";
import { hostRoutes } from "../host/routes.js";
import { type MeshMember, allocateMesh, checkMeshSubnet } from "./mesh-plan.js";

/** `nodeFacts`: the facts of the wireguard target's runtime (the nodes' addresses), gathered once the subnet is known to be free. */
export async function gatherMeshFacts(spec: TopologySpec, nodeFacts: () => Promise<FactsContribution>): Promise<FactsContribution> {
  const subnet = spec.options.network?.wireguardSubnet ?? DEFAULT_MESH_SUBNET;
  checkMeshSubnet(subnet, await hostRoutes());
  const facts = await nodeFacts();
  const members: MeshMember[] = [];
  for (const service of spec.services) {
    if (service.target === "wireguard") members.push({ service: service.name, node: facts.ips![service.name]!.lanIp! });
    else if (service.target === "remote_lan") members.push({ service: service.name, node: await nodeAddress(service) });
  }
  const mesh = allocateMesh(subnet, members);
  const ips: Record<string, ServiceIps> = {};
  for (const [name, meshIp] of Object.entries(mesh.services)) ips[name] = { ...facts.ips?.[name], meshIp };
  return { ...facts, ips, addresses: { ...facts.addresses, hubMeshIp: mesh.hubIp } };
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
