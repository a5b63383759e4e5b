import { overlaps, parseCidr } from "../host/cidr.js";
import { hostRoutes } from "../host/routes.js";
import { LAB_POOL } from "./lab-subnets.js";

/**
 * Whether `host` was a node of a lab that no longer exists: an address of the lab pool that no
 * route of this host leads to any more. A reaper must then skip it — the node is gone with its
 * lab, and a packet sent to it would leave by the default route, to somebody else's network.
 */
export async function isVanishedLabNode(host: string): Promise<boolean> {
  const address = parseCidr(host);
  if (!address || address.bits !== 32 || !overlaps(address, LAB_POOL)) return false;
  return !(await hostRoutes()).some((route) => overlaps(route.cidr, address));
}
