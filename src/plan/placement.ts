import type { ServiceSpec } from "../topology/types.js";
import type { Placement } from "./addresses.js";
import type { HostFacts } from "./host-facts.js";

/** Where each target puts a service on the network: one case per target. */
export function placeService(service: ServiceSpec, facts: HostFacts): Placement {
  const port = service.port === 0 ? facts.ports[service.name] : service.port;
  const ips = facts.ips[service.name] ?? {};
  switch (service.target) {
    case "process":
      return { location: "host", port, hostPort: port };
    case "docker":
      // Without `port`, the first of the container's `ports` is its primary port (the ADR's `ports: [5432]`).
      return { location: "container", port: port ?? facts.ports[service.name], hostPort: facts.hostPorts[service.name], containerIp: ips.containerIp };
    case "remote_lan":
      // A package's manifest gives the port when the options do not.
      return { location: "lan", port: port ?? facts.ports[service.name], lanIp: ips.lanIp, meshIp: ips.meshIp, ...nodePortOf(service, port, facts) };
    case "wireguard":
      return { location: "wireguard", port, lanIp: ips.lanIp, meshIp: ips.meshIp, ...nodePortOf(service, port, facts) };
  }
}

/**
 * A container on a node's engine publishes its port on the node (its callers all come through the
 * node): at the port its runtime found for it there, else at the same number.
 */
function nodePortOf(service: ServiceSpec<"remote_lan" | "wireguard">, port: number | undefined, facts: HostFacts): { nodePort?: number } {
  if (!service.options.docker || port === undefined) return {};
  return { nodePort: facts.nodePorts?.[service.name] ?? port };
}
