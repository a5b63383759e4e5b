/**
 * What a person writes with bare dockerode, shared by the `containers` and `docker-engine` figures:
 * a busybox httpd container with its port published on loopback, and a network of the run's own as
 * meshbed makes one (a subnet clear of the host's routes and the engine's networks).
 */
import type Docker from "dockerode";
import { freePort } from "../src/host/ports.js";
import { type PlannedNetwork, RUN_LABEL, createNetwork, planNetwork, removeNetwork } from "../src/runtimes/docker/run-network.js";
import { CONTAINER_PORT as PORT } from "./topologies.js";

/** Created, not started; on `network` at the service's fixed IP when given, else on the default bridge. */
export async function createBareContainer(docker: Docker, image: string, labels: Record<string, string>, on?: { network: PlannedNetwork; service: string }): Promise<Docker.Container> {
  const hostPort = await freePort();
  return docker.createContainer({
    Image: image,
    Env: [`PORT=${PORT}`],
    Labels: labels,
    ExposedPorts: { [`${PORT}/tcp`]: {} },
    HostConfig: {
      ...(on && { NetworkMode: on.network.name }),
      PortBindings: { [`${PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] },
    },
    ...(on && { NetworkingConfig: { EndpointsConfig: { [on.network.name]: { IPAMConfig: { IPv4Address: on.network.ips[on.service]! } } } } }),
  });
}

/** A network of its own for `services`, labelled like a run's (so the reaper knows it); `ms`: the create call alone. */
export async function createBareNetwork(docker: Docker, services: readonly string[]) {
  const runId = `bench${Math.random().toString(36).slice(2, 8)}`;
  const network = await planNetwork(docker, runId, services, []);
  const t0 = performance.now();
  const id = await createNetwork(docker, network, runId, undefined);
  const ms = performance.now() - t0;
  return { network, runId, ms, labels: { [RUN_LABEL]: runId }, remove: () => removeNetwork(docker, id) };
}
