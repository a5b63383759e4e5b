/**
 * The host's routes, read in one place: which subnets are taken (a docker run network, the mesh,
 * a lab), the host's own address toward a node, and whether an address of a routed pool is still
 * reachable.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Cidr, formatCidr, overlaps, parseCidr, parseIpRouteLines, parseProcRoutes } from "./cidr.js";
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

/*
 * Routed pools. Some addresses are reached only through routes this host made for itself: the
 * lab's nodes (10.240.0.0/12) are namespaces behind the lab's own links. Once such a network is
 * gone, a reaper must not look for its addresses: nothing is left there to undo, and a packet sent
 * there would leave by the default route, to somebody else's network.
 *
 * Why a registered pool, and not "any address that only the default route leads to": a real node
 * (a cloud VM) is reached by the default route too, and what a crashed run left on it must be
 * reaped. Only the pool's owner knows which addresses are its own.
 *
 * Why it is also written down: the reaper is often another process than the one that made the lab
 * (`meshbed cleanup`, the reaping on the side of every start), which never loads the lab. So the
 * registration leaves a mark in the temp dir — where the runs' records are, so that it lasts as
 * long as they do — that every later process of this host reads.
 */

const pools: Cidr[] = [];
const MARK = "meshbed-routed-pool-";

/**
 * Declares `pool` a pool of addresses only routes of this host's own lead to (see above): at once
 * for this process, and with `persist` for every later process of this host too.
 */
export function registerRoutedPool(pool: Cidr, options: { persist?: boolean } = {}): void {
  if (!pools.some((p) => p.base === pool.base && p.bits === pool.bits)) pools.push(pool);
  if (options.persist) persist(pool);
}

/**
 * Whether `host` is an address of a registered pool that no route of this host leads to any more
 * (a node of a lab that is gone): a reaper skips it. Any other address or name is looked for as ever.
 */
export async function isUnroutedPoolAddress(host: string): Promise<boolean> {
  const address = parseCidr(host);
  if (address?.bits !== 32 || !registeredPools().some((pool) => overlaps(address, pool))) return false;
  return !(await hostRoutes()).some((route) => overlaps(route.cidr, address));
}

function markFile(pool: Cidr): string {
  return path.join(os.tmpdir(), `${MARK}${formatCidr(pool).replace("/", "_")}`);
}

function persist(pool: Cidr): void {
  const file = markFile(pool);
  try {
    // `wx`: never through a link somebody else left there.
    fs.closeSync(fs.openSync(file, "wx", 0o644));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST" || !trusted(file)) return;
    // Younger than any record made from now on, so that a cleaner of old temp files takes it last.
    try {
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch {
      // Root's mark, touched by another user: it stays as it is.
    }
  }
}

/** This process's pools and every pool a trusted mark names. */
function registeredPools(): Cidr[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(MARK));
  } catch {
    // No temp dir to read: this process's own pools only.
  }
  const marked = names.flatMap((name) => {
    const pool = parseCidr(name.slice(MARK.length).replace("_", "/"));
    return pool && trusted(path.join(os.tmpdir(), name)) ? [pool] : [];
  });
  return [...pools, ...marked];
}

/** A mark counts if root or this user made it: anyone may write in the temp dir, and a mark makes reapers skip addresses. */
function trusted(file: string): boolean {
  try {
    const stat = fs.lstatSync(file);
    return stat.isFile() && (stat.uid === 0 || stat.uid === process.getuid?.());
  } catch {
    return false;
  }
}
