/**
 * What the engine itself charges for the contract's per-run network (DESIGN.md: each run gets its
 * own user-defined bridge network, containers at fixed addresses on it): the raw dockerode calls
 * alone, no harness, in the same run.
 * - `start` of a created container on the default bridge (what the "dockerode" side of the
 *   containers figure pays): the baseline;
 * - `start` of the same container on a user-defined network at a fixed IP: Docker adds its embedded
 *   DNS resolver, set up by re-executing dockerd (`setup-resolver`) and running iptables inside the
 *   container's namespace (`strace -f -e trace=execve -p $(pgrep -x dockerd)` shows it);
 * - `createNetwork` of that network: a bridge, and some 30 iptables runs on Docker 20.10.
 * The two last are the floor under meshbed's container start that a bare start on the default
 * bridge does not pay. Both publish the port on the host, as meshbed does.
 */
import Docker from "dockerode";
import { freePort } from "../../src/host/ports.js";
import { planNetwork } from "../../src/runtimes/docker/run-network.js";
import { formatCidr } from "../../src/runtimes/docker/subnets.js";
import { busyboxImage } from "../../test/support/images.js";
import { type ComparisonRow, compare } from "../compare.js";
import { CONTAINER_PORT as PORT } from "../topologies.js";

const LABEL = "meshbed.bench";

export async function run(): Promise<ComparisonRow[]> {
  const image = await busyboxImage();
  const docker = new Docker();

  const container = async (network?: { name: string; ip: string }) =>
    docker.createContainer({
      Image: image,
      Env: [`PORT=${PORT}`],
      Labels: { [LABEL]: "engine" },
      ExposedPorts: { [`${PORT}/tcp`]: {} },
      HostConfig: {
        ...(network && { NetworkMode: network.name }),
        PortBindings: { [`${PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(await freePort()) }] },
      },
      ...(network && { NetworkingConfig: { EndpointsConfig: { [network.name]: { IPAMConfig: { IPv4Address: network.ip } } } } }),
    });

  /** A network as meshbed makes one: a subnet clear of routes and other networks. */
  const newNetwork = async () => {
    const runId = `bench${Math.random().toString(36).slice(2, 8)}`;
    const planned = await planNetwork(docker, runId, ["s0"], []);
    const t0 = performance.now();
    const network = await docker.createNetwork({
      Name: planned.name,
      Driver: "bridge",
      IPAM: { Config: [{ Subnet: formatCidr(planned.subnet), Gateway: planned.gateway }] },
      Labels: { "meshbed.run": runId },
    });
    return { network, ms: performance.now() - t0, name: planned.name, ip: planned.ips.s0! };
  };

  const timedStart = async (c: Docker.Container) => {
    const t0 = performance.now();
    await c.start();
    const ms = performance.now() - t0;
    await c.remove({ force: true });
    return ms;
  };

  return compare({
    figure: "Docker engine alone: what a network of the run's own costs",
    baseline: "start, default bridge",
    sides: {
      "start, default bridge": { run: async () => timedStart(await container()) },
      "start, run network": {
        async run() {
          const { network, name, ip } = await newNetwork();
          try {
            return await timedStart(await container({ name, ip }));
          } finally {
            await network.remove();
          }
        },
      },
      "create the network": {
        async run() {
          const { network, ms } = await newNetwork();
          await network.remove();
          return ms;
        },
      },
    },
    notes: {
      "start, default bridge": "dockerode container.start() of a created busybox httpd container, port published",
      "start, run network": "the same container on a user-defined bridge network at a fixed IP: the engine adds its DNS resolver",
      "create the network": "dockerode createNetwork() of a bridge network with its own subnet, as meshbed makes one per run",
    },
  });
}
