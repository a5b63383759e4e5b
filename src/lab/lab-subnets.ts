/** The choice of a lab's subnets. Pure. */
import { type Cidr, formatIp as numberToIp, overlaps, parseCidr, parseIp as ipToNumber, parseIpRoutes as routeDestinations, size } from "../host/cidr.js";

export { type Cidr, ipToNumber, numberToIp, overlaps, parseCidr, routeDestinations };

/** A lab's three networks: its LAN, its "internet" of WAN nodes, and the link that routes to it. */
export interface LabSubnets {
  lan: string;
  wan: string;
  transit: string;
}

/**
 * Labs are taken from 10.240.0.0/12, one /22 each (LAN /24, WAN /24, transit /30): away from
 * docker's default pools, from meshbed's docker run networks (10.200.0.0/13) and from the mesh's
 * default 10.42.0.0/16.
 */
export const LAB_POOL: Cidr = { base: ipToNumber("10.240.0.0")!, bits: 12 };
const BLOCK_BITS = 22;

/** The first /22 of the pool that overlaps nothing in `taken`, split into the lab's networks. */
export function chooseLabSubnets(taken: readonly Cidr[]): LabSubnets | undefined {
  const count = size(LAB_POOL.bits) / size(BLOCK_BITS);
  for (let i = 0; i < count; i++) {
    const block: Cidr = { base: LAB_POOL.base + i * size(BLOCK_BITS), bits: BLOCK_BITS };
    if (taken.some((t) => overlaps(t, block))) continue;
    return {
      lan: `${numberToIp(block.base)}/24`,
      wan: `${numberToIp(block.base + 256)}/24`,
      transit: `${numberToIp(block.base + 512)}/30`,
    };
  }
  return undefined;
}

/** The `n`th address of a subnet ("10.240.0.0/24", 1 → "10.240.0.1"). */
export function addressIn(subnet: string, n: number): string {
  const cidr = parseCidr(subnet)!;
  if (n <= 0 || n >= size(cidr.bits) - 1) throw new RangeError(`${subnet} has no host number ${n}`);
  return numberToIp(cidr.base + n);
}

export function prefixOf(subnet: string): number {
  return parseCidr(subnet)!.bits;
}
