import type { ServiceSpec } from "../spec/types.js";
import type { Placement } from "./addresses.js";
import type { HostFacts } from "./plan.js";

/** Where each target puts a service on the network: one case per target. */
export function placeService(service: ServiceSpec, facts: HostFacts): Placement {
  const port = service.port === 0 ? facts.ports[service.name] : service.port;
  switch (service.target) {
    case "process":
      return { location: "host", port, hostPort: port };
    default:
      throw new Error(`meshbed: no placement for target "${service.target}"`);
  }
}
