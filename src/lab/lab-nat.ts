/**
 * A NAT router between the WAN and one WAN node: a namespace of its own with iptables
 * MASQUERADE, as a home router or a cloud NAT gateway would be.
 *
 * - `nat: "node"`: the node is behind the NAT. It has a private address; what it sends out is
 *   masqueraded to the router's WAN address; nothing from outside reaches it except SSH, which the
 *   router forwards (so the node's `host` is the router's WAN address).
 * - `nat: "host"`: the harness host is behind the NAT as the node sees it. The node has an address
 *   the host reaches by routing, but everything arriving there comes from the router's address, and
 *   the node cannot open a connection out: only answers get back.
 */
import { mustRun } from "./lab-command.js";
import { ipIn } from "./lab-namespaces.js";
import { numberToIp, parseCidr } from "./lab-subnets.js";

export type LabNat = "node" | "host";

export interface NatWiring {
  /** The lab's id, the node's name and its namespace (which exists already). */
  id: string;
  name: string;
  namespace: string;
  /** The node's index among the lab's NAT nodes (0, 1, …): picks its addresses. */
  natIndex: number;
  mode: LabNat;
  infra: string;
  wanSubnet: string;
  wanRouter: string;
  transitRouter: string;
  /** The root namespace's link to the WAN router (`mb-<id>-wan`). */
  wanLink: string;
  /** Records a namespace before it is created (for teardown and crash reaping). */
  recordNamespace: (name: string) => void;
}

export interface NatNode {
  /** Where the harness host reaches the node's sshd. */
  reachableIp: string;
  /** The node's own address (its sshd listens there). */
  nodeIp: string;
  /** The router's namespace. */
  router: string;
}

/** Addresses behind NAT routers: the last /24 of the lab's /22, one /30 per NAT node. */
export function natSubnet(wanSubnet: string): string {
  return `${numberToIp(parseCidr(wanSubnet)!.base + 512)}/24`;
}

export async function wireNatNode(w: NatWiring): Promise<NatNode> {
  const wanBase = parseCidr(w.wanSubnet)!.base;
  const privateBase = wanBase + 512 + 4 * w.natIndex;
  const routerWan = numberToIp(wanBase + 200 + w.natIndex);
  const routerInside = numberToIp(privateBase + 1);
  const nodeIp = numberToIp(privateBase + 2);
  const router = `mb-${w.id}-${w.name}.nat`;
  w.recordNamespace(router);
  await mustRun("ip", ["netns", "add", router]);
  const nft = (...args: string[]) => mustRun("ip", ["netns", "exec", router, "iptables", "-w", "5", ...args]);
  await ipIn(router, "link", "set", "lo", "up");
  await mustRun("ip", ["netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  // WAN side: a port of the WAN bridge.
  const port = `r${w.natIndex}`;
  await ipIn(w.infra, "link", "add", port, "type", "veth", "peer", "name", "wan", "netns", router);
  await ipIn(w.infra, "link", "set", port, "master", "br-wan", "up");
  await ipIn(router, "addr", "add", `${routerWan}/24`, "dev", "wan");
  await ipIn(router, "link", "set", "wan", "up");
  await ipIn(router, "route", "add", "default", "via", w.wanRouter);
  // Inside: the node alone on a /30.
  await ipIn(router, "link", "add", "inside", "type", "veth", "peer", "name", "eth0", "netns", w.namespace);
  await ipIn(router, "addr", "add", `${routerInside}/30`, "dev", "inside");
  await ipIn(router, "link", "set", "inside", "up");
  await ipIn(w.namespace, "addr", "add", `${nodeIp}/30`, "dev", "eth0");
  await ipIn(w.namespace, "link", "set", "eth0", "up");
  await ipIn(w.namespace, "link", "set", "lo", "up");
  await ipIn(w.namespace, "route", "add", "default", "via", routerInside);

  await nft("-P", "FORWARD", "DROP");
  await nft("-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT");
  if (w.mode === "node") {
    await nft("-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE");
    await nft("-A", "FORWARD", "-i", "inside", "-o", "wan", "-j", "ACCEPT");
    // The one way in: SSH, forwarded to the node.
    await nft("-t", "nat", "-A", "PREROUTING", "-i", "wan", "-p", "tcp", "--dport", "22", "-j", "DNAT", "--to-destination", `${nodeIp}:22`);
    await nft("-A", "FORWARD", "-i", "wan", "-o", "inside", "-p", "tcp", "--dport", "22", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT");
    return { reachableIp: routerWan, nodeIp, router };
  }
  await nft("-t", "nat", "-A", "POSTROUTING", "-o", "inside", "-j", "MASQUERADE");
  await nft("-A", "FORWARD", "-i", "wan", "-o", "inside", "-j", "ACCEPT");
  // The host and the WAN router reach the node's /30 through this router.
  await ipIn(w.infra, "route", "add", `${numberToIp(privateBase)}/30`, "via", routerWan);
  await mustRun("ip", ["route", "replace", natSubnet(w.wanSubnet), "via", w.transitRouter, "dev", w.wanLink]);
  return { reachableIp: nodeIp, nodeIp, router };
}
