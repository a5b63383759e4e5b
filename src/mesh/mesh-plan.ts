/**
 * The mesh's addresses, decided before anything starts. Pure: the hub takes the first address
 * of the subnet, and each node that joins (a WireGuard node, or a LAN node that hosts a service)
 * the next ones, in the order the topology names them.
 */
import { ConfigError } from "../errors.js";
import { type Cidr, formatCidr, formatIp, overlaps, parseCidr, size } from "../host/cidr.js";
import { DEFAULT_MESH_SUBNET } from "../topology/harness-options.js";

/** One service on a node of the mesh; `node` identifies the machine (its resolved address). */
export interface MeshMember {
  service: string;
  node: string;
}

export interface MeshAddresses {
  subnet: string;
  prefix: number;
  hubIp: string;
  /** Node → its mesh address. */
  nodes: Record<string, string>;
  /** Service → the mesh address of its node. */
  services: Record<string, string>;
}

export function allocateMesh(subnetText: string, members: readonly MeshMember[]): MeshAddresses {
  const subnet = parseCidr(subnetText)!;
  const nodes: Record<string, string> = {};
  const services: Record<string, string> = {};
  let next = 2;
  for (const member of members) {
    if (nodes[member.node] === undefined) {
      if (next >= size(subnet.bits) - 1) {
        throw new ConfigError(`The mesh subnet ${subnetText} has no room for ${new Set(members.map((m) => m.node)).size} nodes and the hub: choose a larger \`network.wireguardSubnet\``, {
          code: "E_MESH_SUBNET",
          service: member.service,
        });
      }
      nodes[member.node] = formatIp(subnet.base + next++);
    }
    services[member.service] = nodes[member.node]!;
  }
  return { subnet: formatCidr(subnet), prefix: subnet.bits, hubIp: formatIp(subnet.base + 1), nodes, services };
}

/**
 * Refuses a subnet that overlaps a route of the host (it would hijack or be hijacked by that
 * network), naming both.
 */
export function checkMeshSubnet(subnetText: string, routes: readonly { cidr: Cidr; line: string }[]): void {
  const subnet = parseCidr(subnetText);
  if (!subnet || subnet.bits > 30) {
    throw new ConfigError(`The mesh subnet ${JSON.stringify(subnetText)} is not an IPv4 subnet of at least 4 addresses: set \`network.wireguardSubnet\` like "${DEFAULT_MESH_SUBNET}"`, {
      code: "E_MESH_SUBNET",
    });
  }
  // A network's own route names a clash better than the local and broadcast routes of its addresses.
  const clashes = routes.filter((r) => overlaps(r.cidr, subnet));
  const clash = clashes.find((r) => !/^(local|broadcast)\s/.test(r.line.trim())) ?? clashes[0];
  if (clash) {
    throw new ConfigError(
      `The mesh subnet ${formatCidr(subnet)} overlaps the host's route "${clash.line.trim()}": choose another \`network.wireguardSubnet\` (wireguard_subnet in YAML) that overlaps no route of \`ip route\``,
      { code: "E_MESH_SUBNET" },
    );
  }
}
