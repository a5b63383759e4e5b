/**
 * The host's routes, read in one place: which subnets are taken (a docker run network, the mesh,
 * a lab), and the host's own address toward a node.
 */
import fs from "node:fs";
import { type Cidr, formatCidr, parseIpRouteLines, parseProcRoutes } from "./cidr.js";
import { hostCommand } from "./host-command.js";

export interface HostRoute {
  readonly cidr: Cidr;
  /** The route as the host printed it, for a message that names it. */
  readonly line: string;
}

/**
 * Every IPv4 route of the host in every table (`ip -4 route show table all`: policy routing counts
 * too), the default route left out; `/proc/net/route` (the main table) when `ip` is missing or
 * fails. Never rejects: nothing known is an empty list.
 */
export async function hostRoutes(): Promise<HostRoute[]> {
  const result = await hostCommand("ip", ["-4", "route", "show", "table", "all"], { timeoutMs: 5_000 });
  if (result.code === 0) return parseIpRouteLines(result.stdout);
  try {
    return parseProcRoutes(fs.readFileSync("/proc/net/route", "utf8")).map((cidr) => ({ cidr, line: `${formatCidr(cidr)} (/proc/net/route)` }));
  } catch {
    return [];
  }
}

/** The harness host's own address on the route to `ip` (`ip route get`), when it can be known. */
export async function sourceAddressToward(ip: string): Promise<string | undefined> {
  if (process.platform !== "linux") return undefined;
  const result = await hostCommand("ip", ["-o", "route", "get", ip]);
  return result.code === 0 ? /\bsrc (\S+)/.exec(result.stdout)?.[1] : undefined;
}
