/**
 * The bad-input catalogue: topologies a user gets wrong, through the builder and through YAML.
 * Each is refused with its own `code` and a message that names the service and the field, and
 * leaves nothing behind: no process of the run, no container or network with its label, no
 * state dir, no namespace.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness, type HarnessError } from "../../src/public/index.js";
import type { Lab, LabNode } from "../../src/public/lab.js";
import { busyboxImage, dockerAvailable, leftovers } from "../support/images.js";
import { labAvailable } from "../support/lab.js";
import { fixture, stateDirOf } from "../support/process-tracker.js";

const NODE = process.execPath;
const SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

/** Anything with a `start()`: a builder, or what makes one (a throw there is the error under test). */
type Startable = { start(): Promise<unknown> };

interface Case {
  name: string;
  code: string;
  /** Texts the message must contain: the service, the field. */
  mentions: readonly string[];
  make(runId: string): Startable;
}

let lab: Lab;
let image: string;
let tmp: string;
let takenPort: number;
let holder: net.Server;

const p = (runId: string) => Harness.builder({ runId });
const ok = { binary: NODE, args: [SERVER], port: 0 };
const node = (n: LabNode) => ({ host: n.host, user: n.user, ssh: n.ssh });

function yaml(runId: string, text: string): Startable {
  const file = path.join(tmp, `${runId}.yaml`);
  fs.writeFileSync(file, text);
  return Harness.fromFile(file).withOptions({ runId });
}

/** A package tarball with these files (no validation on the way: that is what is tested). */
function tarball(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, `pkg-${name}`);
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content, { mode: 0o755 });
  }
  const out = path.join(tmp, `${name}.tar.gz`);
  execFileSync("tar", ["-czf", out, "-C", dir, "."]);
  return out;
}

const SCRIPTS = { "scripts/start.sh": "#!/bin/sh\n", "scripts/stop.sh": "#!/bin/sh\n", "bin/x": "#!/bin/sh\n" };

const cases: Case[] = [
  // Wrong types and values, through the builder.
  { name: "negative port", code: "E_CONFIG", mentions: ['"api"', "`port`", "-1"], make: (r) => p(r).process("api", { ...ok, port: -1 }) },
  { name: "port above 65535", code: "E_CONFIG", mentions: ['"api"', "`port`", "70000"], make: (r) => p(r).process("api", { ...ok, port: 70_000 }) },
  { name: "port as a string", code: "E_CONFIG", mentions: ['"api"', "`port`"], make: (r) => p(r).process("api", { ...ok, port: "80" as never }) },
  { name: "fractional port", code: "E_CONFIG", mentions: ['"api"', "`port`"], make: (r) => p(r).process("api", { ...ok, port: 1.5 }) },
  { name: "no binary", code: "E_CONFIG", mentions: ['"api"', "`binary`"], make: (r) => p(r).process("api", { port: 0 } as never) },
  { name: "binary as a number", code: "E_CONFIG", mentions: ['"api"', "`binary`"], make: (r) => p(r).process("api", { binary: 42 as never }) },
  { name: "args not an array", code: "E_CONFIG", mentions: ['"api"', "`args`"], make: (r) => p(r).process("api", { ...ok, args: "--port 1" as never }) },
  { name: "an object among args", code: "E_CONFIG", mentions: ['"api"', "`args[1]`"], make: (r) => p(r).process("api", { ...ok, args: ["a", {} as never] }) },
  { name: "env not an object", code: "E_CONFIG", mentions: ['"api"', "`env`"], make: (r) => p(r).process("api", { ...ok, env: ["A=1"] as never }) },
  { name: "env value an object", code: "E_CONFIG", mentions: ['"api"', "`env.A`"], make: (r) => p(r).process("api", { ...ok, env: { A: {} as never } }) },
  { name: "env name not a variable", code: "E_CONFIG", mentions: ['"api"', "`env.1BAD`"], make: (r) => p(r).process("api", { ...ok, env: { "1BAD": "x" } }) },
  { name: "zero startTimeoutMs", code: "E_CONFIG", mentions: ['"api"', "`startTimeoutMs`"], make: (r) => p(r).process("api", { ...ok, startTimeoutMs: 0 }) },
  { name: "health of no kind", code: "E_CONFIG", mentions: ['"api"', "health"], make: (r) => p(r).process("api", { ...ok, health: {} as never }) },
  { name: "restart policy unknown", code: "E_CONFIG", mentions: ['"api"', "`restart.policy`", "on-failure"], make: (r) => p(r).process("api", { ...ok, restart: { policy: "always" as never } }) },
  { name: "negative maxRetries", code: "E_CONFIG", mentions: ['"api"', "`restart.maxRetries`"], make: (r) => p(r).process("api", { ...ok, restart: { policy: "on-failure", maxRetries: -1 } }) },
  { name: "service name with a space", code: "E_CONFIG", mentions: ['"my api"', "name"], make: (r) => p(r).process("my api", ok) },
  { name: "service name starting with a digit", code: "E_CONFIG", mentions: ['"1api"', "name"], make: (r) => p(r).process("1api", ok) },
  { name: "bad run id", code: "E_CONFIG", mentions: ["`runId`", "UPPER"], make: () => Harness.builder({ runId: "UPPER" }).process("api", ok) },
  {
    name: "bad wireguardSubnet",
    code: "E_CONFIG",
    mentions: ["`network.wireguardSubnet`", "10.42.0.0/33"],
    make: (r) => Harness.builder({ runId: r, network: { wireguardSubnet: "10.42.0.0/33" } }).process("api", ok),
  },
  { name: "docker: both image and build", code: "E_CONFIG", mentions: ['"db"', "image", "build"], make: (r) => p(r).docker("db", { image: "x", build: { context: "." } } as never) },
  { name: "remoteLan: no host", code: "E_CONFIG", mentions: ['"edge"', "`host`"], make: (r) => p(r).remoteLan("edge", { binary: "/bin/true" } as never) },
  {
    name: "remoteLan: strictHostKeyChecking unknown",
    code: "E_CONFIG",
    mentions: ['"edge"', "`ssh.strictHostKeyChecking`"],
    make: (r) => p(r).remoteLan("edge", { host: "h", binary: "/bin/true", ssh: { strictHostKeyChecking: "maybe" as never } }),
  },
  // Unknown keys, with a suggestion.
  { name: "unknown key prot", code: "E_CONFIG", mentions: ['"api"', "`prot`", "did you mean `port`"], make: (r) => p(r).process("api", { ...ok, prot: 1 } as never) },
  { name: "unknown key dependOn", code: "E_CONFIG", mentions: ['"api"', "`dependOn`", "did you mean `dependsOn`"], make: (r) => p(r).process("api", { ...ok, dependOn: [] } as never) },
  { name: "unknown health kind htp", code: "E_CONFIG", mentions: ['"api"', "`health.htp`", "did you mean `http`"], make: (r) => p(r).process("api", { ...ok, health: { htp: "/" } as never }) },
  {
    name: "unknown restart key",
    code: "E_CONFIG",
    mentions: ['"api"', "`restart.maxRetrys`", "did you mean `maxRetries`"],
    make: (r) => p(r).process("api", { ...ok, restart: { policy: "on-failure", maxRetrys: 1 } as never }),
  },
  { name: "unknown docker key imag", code: "E_CONFIG", mentions: ['"db"', "`imag`", "did you mean `image`"], make: (r) => p(r).docker("db", { imag: "x" } as never) },
  // The graph.
  { name: "depends on itself", code: "E_CONFIG", mentions: ['"api"', "`dependsOn[0]`"], make: (r) => p(r).process("api", { ...ok, dependsOn: ["api"] }) },
  { name: "unknown dependency", code: "E_UNKNOWN_DEPENDENCY", mentions: ['"api"', "nope"], make: (r) => p(r).process("api", { ...ok, dependsOn: ["nope"] }) },
  {
    name: "dependency cycle",
    code: "E_DEPENDENCY_CYCLE",
    mentions: ["a -> b -> a", "dependsOn"],
    make: (r) =>
      p(r)
        .process("a", { ...ok, dependsOn: ["b"] })
        .process("b", { ...ok, dependsOn: ["a"] }),
  },
  {
    name: "duplicate name",
    code: "E_DUPLICATE_SERVICE",
    mentions: ['"api"', "twice"],
    make: (r) =>
      p(r)
        .process("api", ok)
        .process("api" as never, ok),
  },
  { name: "names whose variables collide", code: "E_DUPLICATE_SERVICE", mentions: ['"api-x"', '"api_x"', "API_X_ADDR"], make: (r) => p(r).process("api-x", ok).process("api_x", ok) },
  { name: "unknown variable", code: "E_UNKNOWN_VARIABLE", mentions: ['"api"', "NOPE_NOT_SET"], make: (r) => p(r).process("api", { ...ok, env: { A: "${NOPE_NOT_SET}" } }) },
  // Ports.
  { name: "port taken on the host", code: "E_PORT_IN_USE", mentions: ['"api"', "`port: 0`", "already in use"], make: (r) => p(r).process("api", { ...ok, port: takenPort }) },
  {
    name: "two services on one port",
    code: "E_PORT_IN_USE",
    mentions: ['"a"', '"b"', "both want port 40123"],
    make: (r) =>
      p(r)
        .process("a", { ...ok, port: 40_123 })
        .process("b", { ...ok, port: 40_123 }),
  },
  // Binaries, images, packages.
  { name: "binary path missing", code: "E_BINARY_NOT_FOUND", mentions: ['"api"', "`binary`", "/nonexistent/server"], make: (r) => p(r).process("api", { binary: "/nonexistent/server", port: 0 }) },
  { name: "binary not on PATH", code: "E_BINARY_NOT_FOUND", mentions: ['"api"', "`binary`", "no-such-binary-xyz"], make: (r) => p(r).process("api", { binary: "no-such-binary-xyz", port: 0 }) },
  { name: "binary not executable", code: "E_BINARY_NOT_FOUND", mentions: ['"api"', "chmod +x"], make: (r) => p(r).process("api", { binary: path.join(tmp, "not-executable"), port: 0 }) },
  { name: "cwd missing", code: "E_BINARY_NOT_FOUND", mentions: ['"api"', "`cwd`"], make: (r) => p(r).process("api", { ...ok, cwd: "/nonexistent/dir" }) },
  {
    name: "image missing, pull never",
    code: "E_IMAGE_NOT_FOUND",
    mentions: ['"db"', "meshbed-test/none:1", "pull"],
    make: (r) => p(r).docker("db", { image: "meshbed-test/none:1", pull: "never", port: 80 }),
  },
  {
    name: "package file missing",
    code: "E_PACKAGE_INVALID",
    mentions: ['"edge"', "`package`", "/nonexistent/pkg.tar.gz"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b1")), package: "/nonexistent/pkg.tar.gz" }),
  },
  {
    name: "package without manifest",
    code: "E_PACKAGE_INVALID",
    mentions: ['"edge"', "manifest.yaml"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b1")), package: tarball("nomanifest", SCRIPTS) }),
  },
  {
    name: "package manifest not YAML",
    code: "E_PACKAGE_INVALID",
    mentions: ['"edge"', "manifest.yaml", "YAML"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b1")), package: tarball("badyaml", { ...SCRIPTS, "manifest.yaml": "name: [unclosed\n" }) }),
  },
  {
    name: "package manifest with an unknown field",
    code: "E_PACKAGE_INVALID",
    mentions: ['"edge"', "manifest.yaml", "`colour`"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b1")), package: tarball("badfield", { ...SCRIPTS, "manifest.yaml": "name: x\nversion: 1.0.0\nport: 1\ncolour: red\n" }) }),
  },
  // Hosts.
  {
    name: "remote binary missing",
    code: "E_BINARY_NOT_FOUND",
    mentions: ['"edge"', "`binary`", "/opt/none/server"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b1")), binary: "/opt/none/server" }),
  },
  {
    name: "unreachable host (a lab node whose sshd is stopped)",
    code: "E_SSH_CONNECT",
    mentions: ['"edge"', "ECONNREFUSED", "host"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b2")), binary: NODE, ssh: { ...lab.node("b2").ssh } }),
  },
  {
    name: "host key not in known_hosts",
    code: "E_SSH_HOST_KEY",
    mentions: ['"edge"', "empty_known_hosts", "`ssh.strictHostKeyChecking"],
    make: (r) => p(r).remoteLan("edge", { ...node(lab.node("b1")), binary: NODE, ssh: { ...lab.node("b1").ssh, knownHostsFile: path.join(tmp, "empty_known_hosts") } }),
  },
  {
    name: "mesh subnet overlapping a host route",
    code: "E_MESH_SUBNET",
    mentions: ["`network.wireguardSubnet`", "172.17.0.0/16"],
    make: (r) => Harness.builder({ runId: r, network: { wireguardSubnet: "172.17.0.0/16" } }).wireguard("wg", { ...node(lab.node("b1")), binary: NODE, args: [SERVER], port: 8080 }),
  },
  // YAML.
  { name: "YAML: not YAML", code: "E_YAML", mentions: [".yaml:"], make: (r) => yaml(r, "services:\n  api: [unclosed\n") },
  { name: "YAML: no services", code: "E_YAML", mentions: ["services"], make: (r) => yaml(r, "network: {}\n") },
  {
    name: "YAML: unknown target",
    code: "E_YAML",
    mentions: ['"api"', "services.api.target.proces", "did you mean `process`"],
    make: (r) => yaml(r, `services:\n  api:\n    target:\n      proces:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: unknown service key",
    code: "E_YAML",
    mentions: ["services.api.depends_onn", "did you mean `depends_on`"],
    make: (r) => yaml(r, `services:\n  api:\n    target:\n      process:\n        binary: ${NODE}\n    depends_onn: []\n`),
  },
  {
    name: "YAML: port as text",
    code: "E_CONFIG",
    mentions: ['"api"', "services.api.port"],
    make: (r) => yaml(r, `services:\n  api:\n    port: eighty\n    target:\n      process:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: restart policy unknown",
    code: "E_CONFIG",
    mentions: ['"api"', "services.api.restart.policy"],
    make: (r) => yaml(r, `services:\n  api:\n    restart:\n      policy: sometimes\n    target:\n      process:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: restart max_retries negative",
    code: "E_CONFIG",
    mentions: ['"api"', "services.api.restart.max_retries"],
    make: (r) => yaml(r, `services:\n  api:\n    restart:\n      policy: on-failure\n      max_retries: -2\n    target:\n      process:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: unknown network key",
    code: "E_YAML",
    mentions: ["network.wireguard_subnett", "did you mean `wireguard_subnet`"],
    make: (r) => yaml(r, `network:\n  wireguard_subnett: 10.9.0.0/16\nservices:\n  api:\n    target:\n      process:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: cycle",
    code: "E_DEPENDENCY_CYCLE",
    mentions: ["a -> b -> a", "dependsOn"],
    make: (r) =>
      yaml(r, `services:\n  a:\n    depends_on: [b]\n    target:\n      process:\n        binary: ${NODE}\n  b:\n    depends_on: [a]\n    target:\n      process:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: unknown dependency",
    code: "E_UNKNOWN_DEPENDENCY",
    mentions: ['"a"', "ghost"],
    make: (r) => yaml(r, `services:\n  a:\n    depends_on: [ghost]\n    target:\n      process:\n        binary: ${NODE}\n`),
  },
  {
    name: "YAML: missing binary",
    code: "E_BINARY_NOT_FOUND",
    mentions: ['"a"', "`binary`"],
    make: (r) => yaml(r, `services:\n  a:\n    target:\n      process:\n        binary: ./no-such-server\n`),
  },
  {
    name: "YAML: missing image",
    code: "E_IMAGE_NOT_FOUND",
    mentions: ['"db"', "meshbed-test/none:2"],
    make: (r) => yaml(r, `services:\n  db:\n    target:\n      docker:\n        image: meshbed-test/none:2\n        pull: never\n`),
  },
];

/** Processes whose env carries the run's id: anything of the run still alive (on the host or a node). */
function processesOfRun(runId: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(`HARNESS_RUN_ID=${runId}`)) found.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

function namespacesOfRun(runId: string): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(runId));
}

describe.skipIf(!ready)("bad input", () => {
  beforeAll(async () => {
    image = await busyboxImage();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-bad-"));
    fs.writeFileSync(path.join(tmp, "not-executable"), "#!/bin/sh\n", { mode: 0o644 });
    fs.writeFileSync(path.join(tmp, "empty_known_hosts"), "");
    holder = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => holder.once("listening", r));
    takenPort = (holder.address() as net.AddressInfo).port;
    const { Lab } = await import("../../src/public/lab.js");
    lab = await Lab.create({
      nodes: [
        { name: "b1", network: "lan" },
        { name: "b2", network: "lan" },
      ],
    });
    // b2 stays (its namespace, its address), but nothing listens there any more: an unreachable host.
    process.kill(lab.node("b2").sshdPid!, "SIGKILL");
  }, 180_000);
  afterAll(async () => {
    holder?.close();
    await lab?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("has at least 40 cases, builder and YAML", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(cases.filter((c) => c.name.startsWith("YAML")).length).toBeGreaterThanOrEqual(10);
    void image;
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, i) => {
    const runId = `bad${i}-${Math.random().toString(36).slice(2, 6)}`;
    let error: HarnessError | undefined;
    try {
      await c.make(runId).start();
    } catch (e) {
      error = e as HarnessError;
    }
    expect(error, "the start must fail").toBeDefined();
    expect({ code: error!.code, message: error!.message }).toMatchObject({ code: c.code });
    for (const text of c.mentions) expect(error!.message).toContain(text);
    expect(error!.name).toMatch(/Error$/);

    expect(processesOfRun(runId)).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
    expect(fs.existsSync(stateDirOf(runId))).toBe(false);
    expect(namespacesOfRun(runId)).toEqual([]);
  });
});
