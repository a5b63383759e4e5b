import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { overlaps, parseCidr, parseIpRoutes } from "../host/cidr.js";
import { LAB_POOL } from "./lab-subnets.js";

const run = promisify(execFile);

/**
 * Whether `host` was a node of a lab that no longer exists: an address of the lab pool that no
 * route of this host leads to any more. A reaper must then skip it — the node is gone with its
 * lab, and a packet sent to it would leave by the default route, to somebody else's network.
 */
export async function isVanishedLabNode(host: string): Promise<boolean> {
  const address = parseCidr(host);
  if (!address || address.bits !== 32 || !overlaps(address, LAB_POOL)) return false;
  const { stdout } = await run("ip", ["-4", "route", "show", "table", "all"]);
  return !parseIpRoutes(stdout).some((route) => overlaps(route, address));
}
