/** IPv4 addresses and subnets as numbers, and the routes of the host as subnets. Pure. */

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  readonly base: number;
  readonly bits: number;
}

export function parseIp(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

/** "10.0.0.0/8" or a bare address (a /32); undefined for anything else (IPv6, "default"). */
export function parseCidr(text: string): Cidr | undefined {
  const [ip, bitsText, ...rest] = text.split("/");
  if (rest.length > 0 || ip === undefined) return undefined;
  const address = parseIp(ip);
  const bits = bitsText === undefined ? 32 : /^\d{1,2}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (address === undefined || !(bits >= 0 && bits <= 32)) return undefined;
  return { base: address - (address % size(bits)), bits };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.bits}`;
}

export function size(bits: number): number {
  return 2 ** (32 - bits);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b.bits) && b.base < a.base + size(a.bits);
}

/**
 * The destinations of `ip -4 route show table all` (every table, so policy routing counts too).
 * The default route is left out: it overlaps everything, and a subnet of our own is more specific.
 */
export function parseIpRoutes(text: string): Cidr[] {
  return parseIpRouteLines(text).map((route) => route.cidr);
}

/** As `parseIpRoutes`, each destination with its line (for a message that names the route). */
export function parseIpRouteLines(text: string): { cidr: Cidr; line: string }[] {
  const types = new Set(["unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat", "anycast"]);
  const routes: { cidr: Cidr; line: string }[] = [];
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/);
    const destination = types.has(words[0] ?? "") ? words[1] : words[0];
    if (!destination || destination === "default") continue;
    const cidr = parseCidr(destination);
    if (cidr && cidr.bits > 0) routes.push({ cidr, line });
  }
  return routes;
}

/** The destinations of `/proc/net/route` (main table only): the fallback when `ip` is missing. */
export function parseProcRoutes(text: string): Cidr[] {
  const routes: Cidr[] = [];
  for (const line of text.split("\n").slice(1)) {
    const [, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (!destination || !mask) continue;
    // Little-endian hex on x86 and arm64 alike: the kernel prints the raw __be32 as a host integer.
    const ip = swap(parseInt(destination, 16));
    const bits = popcount(parseInt(mask, 16));
    if (bits > 0) routes.push({ base: ip - (ip % size(bits)), bits });
  }
  return routes;
}

function swap(x: number): number {
  return (((x & 255) << 24) | (((x >>> 8) & 255) << 16) | (((x >>> 16) & 255) << 8) | ((x >>> 24) & 255)) >>> 0;
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v >>>= 1) n += v & 1;
  return n;
}
