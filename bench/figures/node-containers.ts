/**
 * Containers on a lab node's own engine (a network namespace with a real sshd and dockerd):
 * - start to healthy of one busybox httpd container on the node (the image already there): meshbed
 *   (`.remoteLan(…, { docker })`, its engine over the node's SSH connection, TCP probe) against
 *   `docker -H ssh://node run -d -p` + the same probe. Target: ratio ≤ 1.0.
 * - shipping of a 50 MB image that only this host's engine has, built on the busybox image that the
 *   node has (as a test image's base usually is): meshbed's save → load over the node's SSH
 *   connection (connect included), which leaves out the layers the node has as every run does,
 *   against `docker save IMG | ssh node docker load`, which moves them all. Target: ratio ≤ 1.0.
 */
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { Harness } from "../../src/public/index.js";
import { Lab, type LabNode } from "../../src/public/lab.js";
import { buildImage, removeImage } from "../../src/runtimes/docker/images.js";
import { connectNodeEngine } from "../../src/runtimes/docker/node-engine.js";
import { shipImage } from "../../src/runtimes/docker/ship-image.js";
import { resolveDestination } from "../../src/ssh/ssh-destination.js";
import { sshPool } from "../../src/ssh/ssh-pool.js";
import { busyboxImage } from "../../test/support/images.js";
import { type ComparisonRow, compare, round } from "../compare.js";
import { probeUntilOpen } from "../probe.js";

const sh = promisify(execFile);
const PORT = 8700;
const IMAGE_MB = 50;

type AnyBuilder = { remoteLan(name: string, o: object): AnyBuilder; start(): Promise<Harness> };

/**
 * The Docker CLI's `ssh://` helper runs `ssh` from PATH with no way to pass a key: a wrapper of
 * this bench's own, first on PATH, adds the lab's key and known_hosts (no ~/.ssh/config is touched).
 */
function sshWrapper(dir: string, node: LabNode): NodeJS.ProcessEnv {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(
    path.join(bin, "ssh"),
    `#!/bin/sh\nexec /usr/bin/ssh -i '${node.identityFile}' -o 'UserKnownHostsFile=${node.knownHostsFile}' -o StrictHostKeyChecking=yes -o BatchMode=yes "$@"\n`,
    {
      mode: 0o755,
    },
  );
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}

async function bigImage(work: string, base: string): Promise<string> {
  const dir = path.join(work, "big");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "data.bin"), crypto.randomBytes(IMAGE_MB * 2 ** 20));
  fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${base}\nCOPY data.bin /data.bin\n`);
  const tag = `meshbed-bench/ship:${crypto.randomBytes(4).toString("hex")}`;
  await buildImage(new Docker(), { context: dir, dockerfile: "Dockerfile", tag, labels: { "meshbed.bench": "ship" } }, "bench", AbortSignal.timeout(120_000));
  return tag;
}

export async function run(): Promise<ComparisonRow[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-bench-node-docker-"));
  const lab = await Lab.create({ nodes: [{ name: "bench", network: "lan", docker: true }] });
  const local = new Docker();
  const rows: ComparisonRow[] = [];
  let big: string | undefined;
  try {
    const node = lab.node("bench");
    const nodeDocker = new Docker({ socketPath: node.dockerHost!.slice("unix://".length) });
    const on = { host: node.host, user: node.user, ssh: node.ssh };
    const target = `${node.user}@${node.host}`;
    const env = sshWrapper(work, node);
    const image = await busyboxImage();
    // On the node before either side runs: the start figure measures starts, not shipping.
    await shipImage(local, nodeDocker, image, { service: "bench", node: "bench", write: () => {} });

    rows.push(
      ...(await compare({
        figure: "Node containers: start to healthy of one container on a lab node's engine",
        baseline: "docker -H ssh://",
        targets: { "docker -H ssh://": "<=1.0" },
        sides: {
          meshbed: {
            async run() {
              const t0 = performance.now();
              const harness = await (Harness.builder() as unknown as AnyBuilder).remoteLan("web", { ...on, docker: { image }, port: PORT }).start();
              const ms = performance.now() - t0;
              await harness.stop();
              return ms;
            },
          },
          "docker -H ssh://": {
            async run() {
              const t0 = performance.now();
              const { stdout } = await sh("docker", ["-H", `ssh://${target}`, "run", "-d", "-p", `${PORT}:${PORT}`, "-e", `PORT=${PORT}`, image], { env });
              await probeUntilOpen(node.host, PORT);
              const ms = performance.now() - t0;
              await sh("docker", ["-H", `ssh://${target}`, "rm", "-f", stdout.trim()], { env });
              return ms;
            },
          },
        },
        notes: {
          meshbed: "Harness start (SSH connect, engine ping over the connection, create, start, TCP probe of node:port)",
          "docker -H ssh://": "docker CLI 28 over OpenSSH (`docker system dial-stdio` on the node), then the same TCP probe",
        },
      })),
    );

    big = await bigImage(work, image);
    const size = (await local.getImage(big).inspect()).Size / 2 ** 20;
    const ship = await compare({
      figure: `Node containers: shipping of a ${IMAGE_MB} MB image to a lab node's engine`,
      baseline: "docker save | ssh docker load",
      targets: { "docker save | ssh docker load": "<=1.0" },
      runs: 5,
      sides: {
        meshbed: {
          async run() {
            const t0 = performance.now();
            const connection = sshPool.acquire(resolveDestination(node.host, node.user, node.ssh));
            await connection.connect();
            const engine = await connectNodeEngine(connection, ["bench"]);
            await shipImage(local, engine.docker, big!, { service: "bench", node: "bench", write: () => {} });
            const ms = performance.now() - t0;
            await sshPool.release(connection);
            await removeImage(nodeDocker, big!);
            return ms;
          },
        },
        "docker save | ssh docker load": {
          async run() {
            const t0 = performance.now();
            await sh("sh", ["-c", `docker save '${big}' | ssh -q '${target}' docker load`], { env });
            const ms = performance.now() - t0;
            await removeImage(nodeDocker, big!);
            return ms;
          },
        },
      },
      notes: {
        meshbed:
          "SSH connect, engine ping, then GET /images/get streamed into POST /images/load over a channel of the same connection, the base's layers (busybox, 2 MB, on the node) left out as in a run",
        "docker save | ssh docker load": "the docker CLI on both ends, OpenSSH in between; the whole archive",
      },
    });
    for (const row of ship) row.note = `${row.note}; ${round(size / (row.medianMs / 1000))} MiB/s`;
    rows.push(...ship);
  } finally {
    if (big) await removeImage(local, big).catch(() => {});
    await lab.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return rows;
}
