import type { ServiceSpec } from "../../topology/types.js";
import { targetOptions } from "../../topology/target-options.js";
import type { DockerTarget } from "./docker-options.js";
import { HarnessError } from "../../errors.js";

/**
 * The container options of a service that runs one: a `docker` service's own, or the `docker` option
 * of a service on a node (remote_lan, wireguard). One container implementation reads them, whichever
 * engine runs the container.
 */
export function containerTarget(service: ServiceSpec): DockerTarget {
  if (service.target === "docker") return targetOptions(service, "docker");
  const docker = targetOptions(service, "remote_lan", "wireguard").docker;
  if (!docker) {
    throw new HarnessError(`meshbed: service "${service.name}" runs no container (a bug in meshbed: please report it)`, { code: "E_INTERNAL", service: service.name });
  }
  return docker;
}
