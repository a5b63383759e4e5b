/** The choice of a run network's subnet. Pure. */
import { type Cidr, formatCidr, formatIp, overlaps, parseCidr, size } from "../../host/cidr.js";

export { type Cidr, formatCidr, formatIp, overlaps, parseCidr, size };
export { parseIp, parseIpRoutes, parseProcRoutes } from "../../host/cidr.js";

/**
 * Pools the run networks are taken from, in order. 10.200.0.0/13 first: far from docker's own
 * default pools (172.17-31.x, 192.168.x) and from the mesh's default 10.42.0.0/16.
 */
export const SUBNET_POOLS: readonly Cidr[] = [parseCidr("10.200.0.0/13")!, parseCidr("172.24.0.0/13")!];

/**
 * A subnet with room for `hosts` containers (plus network, gateway and broadcast addresses) that
 * overlaps nothing in `taken`. Starts at a random place in the first pool that has room, so that two
 * runs planning at the same moment rarely pick the same one.
 */
export function chooseSubnet(taken: readonly Cidr[], hosts: number, random: () => number = Math.random): Cidr | undefined {
  let bits = 24;
  while (size(bits) < hosts + 3 && bits > 16) bits--;
  for (const pool of SUBNET_POOLS) {
    if (pool.bits > bits) continue;
    const count = size(bits) === 0 ? 0 : size(pool.bits) / size(bits);
    const first = Math.floor(random() * count);
    for (let i = 0; i < count; i++) {
      const candidate = { base: pool.base + ((first + i) % count) * size(bits), bits };
      if (!taken.some((t) => overlaps(t, candidate))) return candidate;
    }
  }
  return undefined;
}

/** The gateway (first address) of a subnet: the harness host as its containers see it. */
export function gatewayOf(subnet: Cidr): string {
  return formatIp(subnet.base + 1);
}

/** The fixed address of the `index`th container (from 0), after the gateway. */
export function hostAddress(subnet: Cidr, index: number): string {
  if (index + 2 >= size(subnet.bits) - 1) throw new RangeError(`${formatCidr(subnet)} has no room for container ${index + 1}`);
  return formatIp(subnet.base + 2 + index);
}
