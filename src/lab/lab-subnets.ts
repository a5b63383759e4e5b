/** IPv4 arithmetic and the choice of a lab's subnets. Pure. */

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  readonly base: number;
  readonly bits: number;
}

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
const POOL: Cidr = { base: ipToNumber("10.240.0.0")!, bits: 12 };
const BLOCK_BITS = 22;

export function ipToNumber(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function numberToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

function size(bits: number): number {
  return 2 ** (32 - bits);
}

/** "10.0.0.0/8" or a bare address (a /32); undefined for anything else ("default", IPv6). */
export function parseCidr(text: string): Cidr | undefined {
  const [ip, bitsText, ...rest] = text.split("/");
  if (rest.length > 0 || ip === undefined) return undefined;
  const address = ipToNumber(ip);
  const bits = bitsText === undefined ? 32 : /^\d{1,2}$/.test(bitsText) ? Number(bitsText) : Number.NaN;
  if (address === undefined || !(bits >= 0 && bits <= 32)) return undefined;
  return { base: address - (address % size(bits)), bits };
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b.bits) && b.base < a.base + size(a.bits);
}

/** The destinations in the output of `ip -4 route show table all`, without the default route. */
export function routeDestinations(text: string): Cidr[] {
  const types = new Set(["unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat", "anycast"]);
  const result: Cidr[] = [];
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/);
    const destination = types.has(words[0] ?? "") ? words[1] : words[0];
    if (!destination || destination === "default") continue;
    const cidr = parseCidr(destination);
    if (cidr && cidr.bits > 0) result.push(cidr);
  }
  return result;
}

/** The first /22 of the pool that overlaps nothing in `taken`, split into the lab's networks. */
export function chooseLabSubnets(taken: readonly Cidr[]): LabSubnets | undefined {
  const count = size(POOL.bits) / size(BLOCK_BITS);
  for (let i = 0; i < count; i++) {
    const block: Cidr = { base: POOL.base + i * size(BLOCK_BITS), bits: BLOCK_BITS };
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
