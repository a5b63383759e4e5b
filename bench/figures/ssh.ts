/**
 * SSH, against a lab node (a network namespace with a real sshd, on a bridge with this host):
 * - upload of a 50 MB package (random data in its bin/): meshbed's upload, as a deploy does it
 *   (connect, then one SFTP write of the archive), against OpenSSH's `scp` of the same file to the
 *   same node (a connection each). Target: meshbed's throughput ≥ 0.9 × scp's (time ratio ≤ 1.11).
 * - deploy of that package: meshbed's start to healthy (upload, unpack, start.sh, TCP probe)
 *   against the same steps with OpenSSH (`scp`, then one `ssh` that unpacks and starts). No target.
 * - start of 10 services on one node (meshbed: one connection) against 10 parallel `ssh` commands
 *   and against one service alone. No target.
 */
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Harness, pack } from "../../src/public/index.js";
import { Lab, type LabNode } from "../../src/public/lab.js";
import { resolveDestination } from "../../src/ssh/ssh-destination.js";
import { sshPool } from "../../src/ssh/ssh-pool.js";
import { type ComparisonRow, compare, round } from "../compare.js";
import { probeUntilOpen } from "../probe.js";
import { BUSYBOX } from "../topologies.js";

const sh = promisify(execFile);
const PACKAGE_MB = 50;
const PACKAGE_PORT = 8600;

type AnyBuilder = { remoteLan(name: string, o: object): AnyBuilder; start(): Promise<Harness> };

function packageDir(parent: string): string {
  const dir = path.join(parent, "package");
  const files: Record<string, string | Buffer> = {
    "manifest.yaml": `name: bulky\nversion: 1\nport: ${PACKAGE_PORT}\n`,
    "bin/data.bin": crypto.randomBytes(PACKAGE_MB * 2 ** 20),
    "scripts/start.sh": ["#!/bin/sh", 'cd "$1"', '. "$2"', `${BUSYBOX} httpd -f -p "$PORT" -h "$1/config" > logs/service.log 2>&1 &`, "echo $! > service.pid", ""].join("\n"),
    "scripts/stop.sh": ["#!/bin/sh", 'cd "$1"', '[ -f service.pid ] && kill "$(cat service.pid)"', ""].join("\n"),
    "config/health": "ok\n",
  };
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content, { mode: name.endsWith(".sh") ? 0o755 : 0o644 });
  }
  return dir;
}

function openSsh(node: LabNode): string[] {
  return ["-q", "-i", node.identityFile, "-o", `UserKnownHostsFile=${node.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"];
}

export async function run(): Promise<ComparisonRow[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-bench-ssh-"));
  const lab = await Lab.create({ nodes: [{ name: "bench", network: "lan" }] });
  const rows: ComparisonRow[] = [];
  try {
    const node = lab.node("bench");
    const on = { host: node.host, user: node.user, ssh: node.ssh };
    const target = `${node.user}@${node.host}`;
    const { file } = await pack(packageDir(work), path.join(work, "bulky.tar.gz"));
    const archive = fs.readFileSync(file);
    const mb = archive.length / 2 ** 20;

    // Upload: the call a deploy makes, on a connection of its own, against scp.
    const upload = await compare({
      figure: `SSH: upload of a ${PACKAGE_MB} MB package to a lab node`,
      baseline: "scp",
      targets: { scp: "<=1.11" },
      sides: {
        meshbed: {
          async run() {
            const t0 = performance.now();
            const connection = sshPool.acquire(resolveDestination(node.host, node.user, node.ssh));
            await connection.connect();
            await connection.writeFile("/tmp/bench-meshbed.tar.gz", archive, 0o600);
            const ms = performance.now() - t0;
            await connection.run("rm -f /tmp/bench-meshbed.tar.gz");
            await sshPool.release(connection);
            return ms;
          },
        },
        scp: {
          async run() {
            const t0 = performance.now();
            await sh("scp", [...openSsh(node), file, `${target}:/tmp/bench-scp.tar.gz`]);
            const ms = performance.now() - t0;
            await sh("ssh", [...openSsh(node), target, "rm -f /tmp/bench-scp.tar.gz"]);
            return ms;
          },
        },
      },
      notes: {
        meshbed: `connect + SFTP write of the ${mb.toFixed(1)} MiB archive, as a deploy does (ssh2)`,
        scp: `OpenSSH scp of the same file, connection included`,
      },
    });
    for (const row of upload) row.note = `${row.note}; ${round(mb / (row.medianMs / 1000))} MiB/s`;
    rows.push(...upload);

    // Deploy: start to healthy of the package, against the same steps by hand.
    rows.push(
      ...(await compare({
        figure: `SSH: deploy of a ${PACKAGE_MB} MB package to a lab node, start to healthy`,
        baseline: "scp + ssh",
        sides: {
          meshbed: {
            async run() {
              const t0 = performance.now();
              const harness = await (Harness.builder() as unknown as AnyBuilder).remoteLan("bulky", { ...on, package: file }).start();
              const ms = performance.now() - t0;
              await harness.stop();
              return ms;
            },
          },
          "scp + ssh": {
            async run() {
              const dir = "/tmp/bench-deploy";
              const t0 = performance.now();
              await sh("ssh", [...openSsh(node), target, `mkdir -p ${dir}/logs`]);
              await sh("scp", [...openSsh(node), file, `${target}:${dir}/p.tar.gz`]);
              await sh("ssh", [
                ...openSsh(node),
                target,
                `cd ${dir} && tar -xzf p.tar.gz && rm p.tar.gz && echo PORT=${PACKAGE_PORT} > service.env && sh scripts/start.sh ${dir} ${dir}/service.env`,
              ]);
              await probeUntilOpen(node.host, PACKAGE_PORT);
              const ms = performance.now() - t0;
              await sh("ssh", [...openSsh(node), target, `sh ${dir}/scripts/stop.sh ${dir}; rm -rf ${dir}`]);
              return ms;
            },
          },
        },
        notes: {
          meshbed: "remoteLan with `package`: connect, upload, unpack, start.sh, TCP probe",
          "scp + ssh": "OpenSSH: ssh mkdir, scp, ssh tar -x + start.sh, the same TCP probe",
        },
      })),
    );

    // Ten services on one node.
    const service = (i: number) => ({ ...on, binary: BUSYBOX, args: ["httpd", "-f", "-p", "${PORT}", "-h", "/tmp"], port: 9000 + i });
    rows.push(
      ...(await compare({
        figure: "SSH: start of 10 services on one lab node, to all healthy",
        baseline: "ssh × 10",
        services: 10,
        sides: {
          meshbed: {
            async run() {
              let builder = Harness.builder() as unknown as AnyBuilder;
              for (let i = 0; i < 10; i++) builder = builder.remoteLan(`r${i}`, service(i));
              const t0 = performance.now();
              const harness = await builder.start();
              const ms = performance.now() - t0;
              await harness.stop();
              return ms;
            },
          },
          "ssh × 10": {
            async run() {
              const t0 = performance.now();
              const pids = await Promise.all(
                Array.from({ length: 10 }, async (_, i) => {
                  const port = 9100 + i;
                  const { stdout } = await sh("ssh", [...openSsh(node), target, `${BUSYBOX} httpd -f -p ${port} -h /tmp >/dev/null 2>&1 </dev/null & echo $!`]);
                  await probeUntilOpen(node.host, port);
                  return stdout.trim();
                }),
              );
              const ms = performance.now() - t0;
              await sh("ssh", [...openSsh(node), target, `kill ${pids.join(" ")}`]);
              return ms;
            },
          },
          "one alone": {
            async run() {
              const t0 = performance.now();
              const harness = await (Harness.builder() as unknown as AnyBuilder).remoteLan("r0", service(0)).start();
              const ms = performance.now() - t0;
              await harness.stop();
              return ms;
            },
          },
        },
        notes: {
          meshbed: "10 × remoteLan busybox httpd, one SSH connection, TCP probes",
          "ssh × 10": "10 parallel OpenSSH `ssh … httpd &`, a connection each, the same probes",
          "one alone": "meshbed, one of them alone",
        },
      })),
    );
  } finally {
    await lab.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return rows;
}
