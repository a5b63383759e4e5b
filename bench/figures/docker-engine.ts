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
import { busyboxImage } from "../../test/support/images.js";
import { createBareContainer, createBareNetwork } from "../bare-docker.js";
import { type ComparisonRow, compare } from "../compare.js";

const LABELS = { "meshbed.bench": "engine" };

export async function run(): Promise<ComparisonRow[]> {
  const image = await busyboxImage();
  const docker = new Docker();

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
      "start, default bridge": { run: async () => timedStart(await createBareContainer(docker, image, LABELS)) },
      "start, run network": {
        async run() {
          const { network, remove } = await createBareNetwork(docker, ["s0"]);
          try {
            return await timedStart(await createBareContainer(docker, image, LABELS, { network, service: "s0" }));
          } finally {
            await remove();
          }
        },
      },
      "create the network": {
        async run() {
          const { ms, remove } = await createBareNetwork(docker, ["s0"]);
          await remove();
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
