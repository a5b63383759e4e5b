/**
 * The address table (DESIGN §3): which address of a target service a caller gets, chosen for
 * where the caller runs. Pure: every input is decided before anything starts.
 */

/** Where a service runs, as far as addressing goes. */
export type Location = "host" | "container" | "lan" | "wireguard";

/** The network facts a service has, decided by the plan. */
export interface Placement {
  location: Location;
  /** The port the service listens on where it runs (given to it as `PORT`). */
  port: number | undefined;
  /** The port on the harness host that reaches it (a process's own port, a container's published port). */
  hostPort?: number | undefined;
  /** Its address on the run's docker network. */
  containerIp?: string | undefined;
  /** Its address on the LAN (LAN and WireGuard nodes: the node's address). */
  lanIp?: string | undefined;
  /** Its address on the mesh, when the mesh exists and the service is on it. */
  meshIp?: string | undefined;
  /**
   * A container on a node's engine: its port published on the node (on every interface). Every caller
   * reaches it at the node's address (LAN, or mesh for WireGuard callers) and this port.
   */
  nodePort?: number | undefined;
}

/** Facts about the harness host's own addresses, as seen from each kind of caller. */
export interface HostAddresses {
  /** The host as seen from containers on the run's network (its gateway). */
  containerGateway?: string | undefined;
  /** The host's own address on the route towards each LAN node (keyed by the node's address). */
  lanIpToward?: Readonly<Record<string, string>> | undefined;
  /** The hub's address on the mesh. */
  hubMeshIp?: string | undefined;
}

/** The "ip:port" (or, for a service without a port, the ip) of `target` as `caller` reaches it. */
export function addressFor(target: Placement, caller: Placement, host: HostAddresses): Endpoint | undefined {
  const ip = ipFor(target, caller, host);
  if (ip === undefined) return undefined;
  const viaHost = target.location === "container" && (caller.location === "lan" || caller.location === "wireguard");
  return { host: ip, port: viaHost ? target.hostPort : (target.nodePort ?? target.port) };
}

function ipFor(target: Placement, caller: Placement, host: HostAddresses): string | undefined {
  switch (target.location) {
    case "host":
      return hostAs(caller, host);
    case "container":
      if (caller.location === "host" || caller.location === "container") return target.containerIp;
      return hostAs(caller, host);
    case "lan":
      return caller.location === "wireguard" ? target.meshIp : target.lanIp;
    case "wireguard":
      return target.meshIp;
  }
}

/** The harness host's own address as the caller sees it. */
export function hostAs(caller: Placement, host: HostAddresses): string | undefined {
  switch (caller.location) {
    case "host":
      return "127.0.0.1";
    case "container":
      return host.containerGateway;
    case "lan":
      return caller.lanIp === undefined ? undefined : host.lanIpToward?.[caller.lanIp];
    case "wireguard":
      return host.hubMeshIp;
  }
}

export interface Endpoint {
  host: string;
  port: number | undefined;
}

export function formatEndpoint(e: Endpoint): string {
  return e.port === undefined ? e.host : `${e.host}:${e.port}`;
}
