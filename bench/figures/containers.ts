/**
 * Containers: start to all healthy of 1 and of 5 busybox httpd containers (5: three dependency
 * levels, s0 ← s1, s2 ← s3, s4, each gated on its dependencies' health), against
 * - bare dockerode: create + start + inspect for the IP + the same TCP probe, default bridge,
 *   port published, level by level;
 * - "dockerode + network": the same plus what meshbed's contract adds (a network of the run's own,
 *   fixed IPs): meshbed's floor, no target;
 * - Testcontainers 11 (`Wait.forListeningPorts()`, level by level), Ryuk disabled, on the default
 *   bridge and ("testcontainers + network", like for like) on a `new Network()` with aliases:
 *   TESTCONTAINERS_RYUK_DISABLED=true, since its image is on Docker Hub, which cannot be reached here;
 * - docker compose (Debian's docker-compose v1) with the same image, a healthcheck (busybox's nc has
 *   no -z: a wget of /health inside the container, every 100 ms) and `depends_on: condition: service_healthy`; `up -d`, then the same TCP probe.
 * Targets: meshbed ≤ 1.05 × dockerode, ≤ 0.9 × Testcontainers, ≤ 0.8 × docker compose.
 * Stopping and removing are outside the timing on every side.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { Harness } from "../../src/public/index.js";
import { freePorts } from "../../src/host/ports.js";
import { busyboxImage } from "../../test/support/images.js";
import { createBareContainer, createBareNetwork } from "../bare-docker.js";
import { type ComparisonRow, compare } from "../compare.js";
import { probeUntilOpen } from "../probe.js";
import { CONTAINER_PORT as PORT } from "../topologies.js";

const sh = promisify(execFile);
const BENCH_LABEL = "meshbed.bench";

/** Topologies as dependency levels: service → its dependencies. */
const TOPOLOGIES: Record<number, Record<string, string[]>> = {
  1: { s0: [] },
  5: { s0: [], s1: ["s0"], s2: ["s0"], s3: ["s1"], s4: ["s2"] },
};

function levels(topology: Record<string, string[]>): string[][] {
  const out: string[][] = [];
  const placed = new Set<string>();
  while (placed.size < Object.keys(topology).length) {
    const level = Object.keys(topology).filter((s) => !placed.has(s) && topology[s]!.every((d) => placed.has(d)));
    for (const s of level) placed.add(s);
    out.push(level);
  }
  return out;
}

function composeFile(image: string, topology: Record<string, string[]>, ports: Record<string, number>): string {
  const lines = ['version: "2.4"', "services:"];
  for (const [name, deps] of Object.entries(topology)) {
    lines.push(
      `  ${name}:`,
      `    image: ${image}`,
      `    environment: { PORT: "${PORT}" }`,
      `    ports: ["127.0.0.1:${ports[name]}:${PORT}"]`,
      `    labels: { ${BENCH_LABEL}: "compose" }`,
      // Readiness from inside (busybox's nc has no -z), as often as is reasonable: the engine runs the first check one interval after start.
      `    healthcheck: { test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:${PORT}/health"], interval: 100ms, timeout: 2s, retries: 300 }`,
    );
    if (deps.length > 0) lines.push("    depends_on:", ...deps.flatMap((d) => [`      ${d}:`, "        condition: service_healthy"]));
  }
  return `${lines.join("\n")}\n`;
}

type AnyBuilder = { docker(name: string, o: object): AnyBuilder; start(): Promise<Harness> };

export async function run(): Promise<ComparisonRow[]> {
  // Read when Testcontainers first starts a container.
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  const { GenericContainer, Network, Wait } = await import("testcontainers");
  const image = await busyboxImage();
  const docker = new Docker();
  const compose = await sh("docker-compose", ["version", "--short"]).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-bench-compose-"));
  const rows: ComparisonRow[] = [];

  const bareStart = async (ip: (c: Docker.Container, name: string) => Promise<string>, create: (name: string) => Promise<Docker.Container>, topology: Record<string, string[]>) => {
    const containers: Docker.Container[] = [];
    for (const level of levels(topology)) {
      await Promise.all(
        level.map(async (name) => {
          const container = await create(name);
          containers.push(container);
          await container.start();
          await probeUntilOpen(await ip(container, name), PORT);
        }),
      );
    }
    return containers;
  };

  try {
    for (const n of [1, 5]) {
      const topology = TOPOLOGIES[n]!;
      const label = n === 1 ? "1 container" : `${n} containers`;
      const testcontainers = async (withNetwork: boolean) => {
        const t0 = performance.now();
        const network = withNetwork ? await new Network().start() : undefined;
        const started: { stop(o: object): Promise<unknown> }[] = [];
        for (const level of levels(topology)) {
          started.push(
            ...(await Promise.all(
              level.map((name) => {
                let container = new GenericContainer(image)
                  .withEnvironment({ PORT: String(PORT) })
                  .withLabels({ [BENCH_LABEL]: "testcontainers" })
                  .withExposedPorts(PORT)
                  .withWaitStrategy(Wait.forListeningPorts());
                if (network) container = container.withNetwork(network).withNetworkAliases(name);
                return container.start();
              }),
            )),
          );
        }
        const ms = performance.now() - t0;
        await Promise.all(started.map((c) => c.stop({ timeout: 10_000 })));
        await network?.stop();
        return ms;
      };
      const sides: Parameters<typeof compare>[0]["sides"] = {
        meshbed: {
          async run() {
            let builder = Harness.builder() as unknown as AnyBuilder;
            for (const [name, deps] of Object.entries(topology)) builder = builder.docker(name, { image, port: PORT, dependsOn: deps });
            const t0 = performance.now();
            const harness = await builder.start();
            const ms = performance.now() - t0;
            await harness.stop();
            return ms;
          },
        },
        dockerode: {
          async run() {
            const t0 = performance.now();
            const containers = await bareStart(
              async (c) => (await c.inspect()).NetworkSettings.Networks.bridge!.IPAddress,
              () => createBareContainer(docker, image, { [BENCH_LABEL]: "dockerode" }),
              topology,
            );
            const ms = performance.now() - t0;
            await Promise.all(containers.map((c) => c.remove({ force: true })));
            return ms;
          },
        },
        "dockerode + network": {
          async run() {
            const t0 = performance.now();
            const { network, labels, remove } = await createBareNetwork(docker, Object.keys(topology));
            const containers = await bareStart(
              async (_c, service) => network.ips[service]!,
              (service) => createBareContainer(docker, image, labels, { network, service }),
              topology,
            );
            const ms = performance.now() - t0;
            await Promise.all(containers.map((c) => c.remove({ force: true })));
            await remove();
            return ms;
          },
        },
        testcontainers: { run: () => testcontainers(false) },
        // Like for like with meshbed: containers that can reach each other (a network of their own, an alias each).
        "testcontainers + network": { run: () => testcontainers(true) },
      };
      if (compose) {
        sides["docker compose"] = {
          async run() {
            const project = `mbbench${Math.random().toString(36).slice(2, 8)}`;
            const picked = await freePorts(Object.keys(topology).length);
            const ports = Object.fromEntries(Object.keys(topology).map((s, i) => [s, picked[i]!]));
            const file = path.join(work, `${project}.yaml`);
            fs.writeFileSync(file, composeFile(image, topology, ports));
            const args = ["-p", project, "-f", file];
            const t0 = performance.now();
            try {
              await sh("docker-compose", [...args, "up", "-d", "--no-build"]);
              await Promise.all(Object.values(ports).map((p) => probeUntilOpen("127.0.0.1", p)));
              return performance.now() - t0;
            } finally {
              await sh("docker-compose", [...args, "down", "-v", "--remove-orphans", "-t", "1"]).catch(() => {});
            }
          },
        };
      }
      rows.push(
        ...(await compare({
          figure: `${label}: start to all healthy`,
          baseline: "dockerode",
          sides,
          services: n,
          chart: "containers",
          targets: { dockerode: "<=1.05", testcontainers: "<=0.9", ...(compose && { "docker compose": "<=0.8" }) },
          notes: {
            dockerode: "create + start + inspect for the IP + the same TCP probe; default bridge; port published",
            "dockerode + network": "meshbed's floor, bare: a network of the run's own, fixed IPs, port published, the same probe (no target)",
            testcontainers: "Testcontainers 11, Wait.forListeningPorts(), TESTCONTAINERS_RYUK_DISABLED=true (Ryuk's image is on Docker Hub: no registry here)",
            "testcontainers + network": "the same on a `new Network()` of its own with an alias each, so that the containers can reach each other (no target)",
            "docker compose": `docker-compose ${compose ?? ""} (v1), up -d with healthchecks (wget of /health in the container, interval 100ms) and depends_on: service_healthy, then the same TCP probe`,
          },
        })),
      );
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    // Whatever a failed side left.
    for (const info of await docker.listContainers({ all: true, filters: { label: [BENCH_LABEL] } })) {
      await docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => {});
    }
  }
  return rows;
}
