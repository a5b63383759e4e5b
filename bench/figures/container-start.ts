/**
 * Start-to-healthy of a one-container topology (busybox httpd, TCP readiness), against a bare
 * dockerode create + start + the same TCP probe, and against Testcontainers 11 starting the same
 * image with its listening-port wait. Targets: meshbed ≤ 1.05 × dockerode, ≤ 0.9 × Testcontainers.
 * Stopping and removing are outside the timing on every side.
 */
import Docker from "dockerode";
import { Harness } from "../../src/public/index.js";
import { freePort } from "../../src/host/ports.js";
import { planNetwork } from "../../src/runtimes/docker/run-network.js";
import { formatCidr } from "../../src/runtimes/docker/subnets.js";
import { busyboxImage } from "../../test/support/images.js";
import { type ComparisonRow, compare } from "../compare.js";
import { probeUntilOpen } from "../probe.js";

const PORT = 8080;

export async function run(): Promise<ComparisonRow[]> {
  // Ryuk (the reaper container) is an image from Docker Hub, which cannot be reached here; every
  // side removes its own container instead. Read when Testcontainers first starts a container.
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  const { GenericContainer, Wait } = await import("testcontainers");
  const image = await busyboxImage();
  const docker = new Docker();

  return compare({
    figure: "1 container: start to healthy",
    baseline: "dockerode",
    targets: { dockerode: "<=1.05", testcontainers: "<=0.9" },
    notes: {
      dockerode: "create + start + inspect for the IP + the same TCP probe, default bridge, port published",
      "dockerode + network": "what meshbed does, bare: a network of its own, then create at a fixed IP + start + the same probe (no target)",
      testcontainers: "Testcontainers 11, Wait.forListeningPorts(), Ryuk disabled (TESTCONTAINERS_RYUK_DISABLED=true: no registry here)",
    },
    sides: {
      meshbed: {
        async run() {
          const t0 = performance.now();
          const harness = await Harness.builder().docker("web", { image, port: PORT }).start();
          const ms = performance.now() - t0;
          await harness.stop();
          return ms;
        },
      },
      dockerode: {
        async run() {
          const t0 = performance.now();
          const hostPort = await freePort();
          const container = await docker.createContainer({
            Image: image,
            Env: [`PORT=${PORT}`],
            ExposedPorts: { [`${PORT}/tcp`]: {} },
            HostConfig: { PortBindings: { [`${PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] } },
          });
          await container.start();
          const ip = (await container.inspect()).NetworkSettings.Networks.bridge!.IPAddress;
          await probeUntilOpen(ip, PORT);
          const ms = performance.now() - t0;
          await container.remove({ force: true });
          return ms;
        },
      },
      "dockerode + network": {
        async run() {
          const t0 = performance.now();
          const hostPort = await freePort();
          const runId = `bench${Math.random().toString(36).slice(2, 8)}`;
          // A subnet clear of the host's routes and the engine's networks, chosen as meshbed does.
          const { name, subnet, gateway, ips } = await planNetwork(docker, runId, ["web"], []);
          const network = await docker.createNetwork({
            Name: name,
            IPAM: { Config: [{ Subnet: formatCidr(subnet), Gateway: gateway }] },
            Labels: { "meshbed.run": runId },
          });
          const container = await docker.createContainer({
            Image: image,
            Env: [`PORT=${PORT}`],
            ExposedPorts: { [`${PORT}/tcp`]: {} },
            HostConfig: { NetworkMode: name, PortBindings: { [`${PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] } },
            NetworkingConfig: { EndpointsConfig: { [name]: { IPAMConfig: { IPv4Address: ips.web! } } } },
          });
          await container.start();
          await probeUntilOpen(ips.web!, PORT);
          const ms = performance.now() - t0;
          await container.remove({ force: true });
          await network.remove();
          return ms;
        },
      },
      testcontainers: {
        async run() {
          const t0 = performance.now();
          const container = await new GenericContainer(image)
            .withEnvironment({ PORT: String(PORT) })
            .withExposedPorts(PORT)
            .withWaitStrategy(Wait.forListeningPorts())
            .start();
          const ms = performance.now() - t0;
          await container.stop({ timeout: 10_000 });
          return ms;
        },
      },
    },
  });
}
