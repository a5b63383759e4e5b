import { StartError } from "../../errors.js";
import { isPortFree } from "../../host/ports.js";
import { targetOptions } from "../../topology/target-options.js";
import type { ServiceSpec } from "../../topology/types.js";
import type { PublishedPort } from "./docker-options.js";

/** A published port with its host port decided. */
export interface HostMapping {
  host: number;
  container: number;
}

/**
 * Every port a container publishes, with its host port decided, its primary port first: `port` (a
 * picked one takes the number of its host port: one number to look for in logs), else the first of
 * `ports`. An entry of `ports` for the primary port gives it its host port.
 */
export async function publishedPorts(service: ServiceSpec, pick: () => Promise<number>): Promise<HostMapping[]> {
  const listed = [...targetOptions(service, "docker").ports];
  let primary: PublishedPort | undefined;
  if (service.port === 0) {
    const port = await pick();
    primary = { host: port, container: port };
  } else if (service.port !== undefined) {
    const i = listed.findIndex((p) => p.container === service.port);
    primary = i >= 0 ? listed.splice(i, 1)[0]! : { host: undefined, container: service.port };
  } else {
    primary = listed.shift();
  }
  const all = primary ? [primary, ...listed] : listed;
  const result: HostMapping[] = [];
  for (const p of all) result.push({ host: p.host ?? (await pick()), container: p.container });
  return result;
}

/** Fixed host ports of `ports` must be free and not wanted by another service of the topology. */
export async function checkFixedHostPorts(services: readonly ServiceSpec[], taken: Set<number>): Promise<void> {
  for (const service of services) {
    for (const { host } of targetOptions(service, "docker").ports) {
      if (host === undefined) continue;
      const free = !taken.has(host) && (await isPortFree(host));
      if (!free) {
        throw new StartError(
          `Port ${host} that service "${service.name}" publishes (\`ports\`) is already in use on this host: stop what holds it, or publish it on another host port ("<hostPort>:<containerPort>")`,
          { code: "E_PORT_IN_USE", service: service.name },
        );
      }
      taken.add(host);
    }
  }
}
