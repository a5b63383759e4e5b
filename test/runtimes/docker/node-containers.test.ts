import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, HarnessError } from "../../../src/public/index.js";
import type { LabNode } from "../../../src/public/lab.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../../support/images.js";
import { labAvailable, labForSuite, on } from "../../support/lab.js";
import { fixture } from "../../support/process-tracker.js";
import { reapNodeDocker } from "../../../src/runtimes/docker/node-docker-reaper.js";
import { reapOrphans } from "../../../src/runtimes/reapers.js";
import { listRuns } from "../../../src/state/runs.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

async function get(addr: string | undefined, urlPath: string): Promise<string> {
  const response = await fetch(`http://${addr}${urlPath}`, { signal: AbortSignal.timeout(15_000) });
  return (await response.text()).trim();
}

/** The node's own engine, reached directly (not over SSH), to see what a run left there. */
function nodeEngine(node: LabNode): Docker {
  return new Docker({ socketPath: node.dockerHost!.slice("unix://".length) });
}

async function nodeLeftovers(node: LabNode, runId: string, image: string): Promise<string[]> {
  const docker = nodeEngine(node);
  const containers = await docker.listContainers({ all: true, filters: { label: [`meshbed.run=${runId}`] } });
  const images = await docker.listImages();
  return [...containers.map((c) => `container ${c.Names[0]}`), ...images.filter((i) => i.RepoTags?.includes(image)).map((i) => `image ${i.RepoTags![0]}`)];
}

const KIND = { p: "local process", c: "local container", l: "LAN node process", n: "container on a LAN node", w: "WireGuard node process", m: "container on a WireGuard node" } as const;

describe.skipIf(!ready)("containers on a LAN node's own engine (the `docker` option of remoteLan)", () => {
  const labOf = labForSuite([
    { name: "dk1", network: "lan", docker: true },
    { name: "lan2", network: "lan" },
    { name: "wdk", network: "wan", docker: true },
    { name: "wan2", network: "wan" },
  ]);
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("ships an image only the harness host has, and connects every new cell of the address table with a real request", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    const lan2 = labOf().node("lan2");
    // The node never had the image: the run ships it from the harness host's engine.
    expect((await nodeEngine(dk1).listImages()).flatMap((i) => i.RepoTags ?? [])).not.toContain(image);
    const runId = testRunId("nd");
    harness = await Harness.builder({ runId })
      .process("p1", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .docker("c1", { image, port: 8080 })
      .remoteLan("l1", { ...on(lan2), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .remoteLan("n1", { ...on(dk1), docker: { image }, port: 8080, health: { http: "/health" } })
      .remoteLan("n2", { ...on(dk1), docker: { image }, port: 8081, health: { http: "/health" } })
      .start();

    const registry = harness.registry();
    const published = (await harness.service("c1").status()).publishedPorts![8080]!;
    const expectedAddr = (caller: string, target: string): string => {
      const t = harness!.service(target);
      if (target.startsWith("n")) return `${dk1.host}:${t.port}`;
      if (!caller.startsWith("n")) throw new Error(`not a new cell: ${caller} → ${target}`);
      // From a container on the node: through the node's address, as a process on the node.
      if (target === "p1") return `${dk1.hostIp}:${t.port}`;
      if (target === "c1") return `${dk1.hostIp}:${published}`;
      return registry[target]!.addresses.lan!;
    };
    expect(registry.n1!.target).toBe("remote_lan");
    expect(harness.service("n1").addr).toBe(`${dk1.host}:8080`);

    const names = ["p1", "c1", "l1", "n1", "n2"];
    const { failures, cells } = await connectCells(harness, names, (x) => x.startsWith("n"), expectedAddr);
    expect(failures).toEqual([]);
    // p→n, c→n, l→n, n→p, n→c, n→l, n→n.
    expect(cells.size).toBe(7);

    // Labelled with the run on the node's engine; all of it gone after stop().
    const containers = await nodeEngine(dk1).listContainers({ filters: { label: [`meshbed.run=${runId}`] } });
    expect(containers.map((c) => c.Names[0]).sort()).toEqual([`/mb-${runId}-n1`, `/mb-${runId}-n2`]);
    await harness.stop();
    harness = undefined;
    expect(await nodeLeftovers(dk1, runId, image)).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
  }, 180_000);

  it("runs a local process, a local container, a container on a LAN node and one on a WireGuard node (WAN, no route to the LAN): each reaches each other one", async () => {
    const image = await busyboxImage();
    const [dk1, lan2, wdk, wan2] = ["dk1", "lan2", "wdk", "wan2"].map((n) => labOf().node(n)) as [LabNode, LabNode, LabNode, LabNode];
    expect((await labOf().exec("wdk", ["ping", "-c1", "-W1", dk1.host])).code).not.toBe(0);
    const runId = testRunId("nw");
    harness = await Harness.builder({ runId })
      .process("p1", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .docker("c1", { image, port: 8080 })
      .remoteLan("l1", { ...on(lan2), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .remoteLan("n1", { ...on(dk1), docker: { image }, port: 8080, health: { http: "/health" } })
      .wireguard("w1", { ...on(wan2), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .wireguard("m1", { ...on(wdk), docker: { image }, port: 8080, health: { http: "/health" } })
      .start();
    const registry = harness.registry();
    const published = (await harness.service("c1").status()).publishedPorts![8080]!;
    const onMesh = (c: string) => c.startsWith("w") || c.startsWith("m");
    const expectedAddr = (caller: string, target: string): string => {
      const t = harness!.service(target);
      if (target === "p1")
        return onMesh(caller) ? `10.42.0.1:${t.port}` : caller.startsWith("c") ? `${registry.c1!.addresses.container!.split(".").slice(0, 3).join(".")}.1:${t.port}` : `${dk1.hostIp}:${t.port}`;
      if (target === "c1") return onMesh(caller) ? `10.42.0.1:${published}` : caller.startsWith("p") ? t.addresses.container! : `${dk1.hostIp}:${published}`;
      if (onMesh(caller) || onMesh(target)) return registry[target]!.addresses.wireguard!;
      return registry[target]!.addresses.lan!;
    };
    expect(harness.service("m1").addr).toBe(`${registry.m1!.addresses.wireguard}`);
    expect(registry.m1!.addresses.wireguard).toMatch(/^10\.42\.0\.\d+:8080$/);

    const names = ["p1", "c1", "l1", "n1", "w1", "m1"];
    const { failures, cells } = await connectCells(harness, names, (x) => x.startsWith("n") || x.startsWith("m"), expectedAddr);
    expect(failures).toEqual([]);
    // Into and out of each new kind, from and to every other kind (n↔m both ways once each).
    expect(cells.size).toBe(18);
    await harness.stop();
    harness = undefined;
    expect(await nodeLeftovers(dk1, runId, image)).toEqual([]);
    expect(await nodeLeftovers(wdk, runId, image)).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
  }, 240_000);

  it("runs more containers on one node than its SSH connection has channels to hold: logs beyond the spare channels are polled, every one arrives", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    const names = ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"];
    let builder = Harness.builder({ runId: testRunId("nm") }) as unknown as { remoteLan(n: string, o: object): typeof builder; start(): Promise<Harness> };
    for (const [i, name] of names.entries()) builder = builder.remoteLan(name, { ...on(dk1), docker: { image }, port: 8200 + i, health: { http: "/health" } });
    harness = await builder.start();
    for (const [i, name] of names.entries()) {
      expect(await get(harness.service(name).addr, "/whoami")).toBe(name);
      await expect
        .poll(
          async () => {
            const lines: string[] = [];
            for await (const l of harness!.service(name).logs()) lines.push(l.line);
            return lines;
          },
          { timeout: 10_000 },
        )
        .toContain(`${name} listening on ${8200 + i}`);
    }
    // A restart on the same node still finds a channel for its requests.
    await harness.service("b9").restart();
    expect(await get(harness.service("b9").addr, "/whoami")).toBe("b9");
  }, 120_000);

  it("after a SIGKILL of the harness, the reaper of `meshbed cleanup` removes the run's container and shipped image from the node's engine", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    const runId = testRunId("nk");
    const child = spawn(process.execPath, ["--import", "tsx", fixture("crash-node-container-child.mts")], {
      env: { ...process.env, RUN_ID: runId, IMAGE: image, LAB_NODE: JSON.stringify(on(dk1)) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.stderr!.on("data", (d: Buffer) => (out += d));
    await expect.poll(() => out.includes("started") || child.exitCode !== null, { timeout: 60_000, interval: 50 }).toBe(true);
    expect(out).toContain(`started ${runId}`);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect((await nodeLeftovers(dk1, runId, image)).sort()).toEqual([`container /mb-${runId}-boxed`, `image ${image}`]);

    // What `meshbed cleanup` runs, for this run alone (other runs on the machine are not this test's).
    const mine = listRuns().filter((r) => r.runId === runId);
    expect(mine.map((r) => r.ownerAlive)).toEqual([false]);
    // Two reapers at once (every harness start reaps crashed runs, `meshbed cleanup` too): neither reports the other's removal as a failure.
    const resources = mine[0]!.state.resources.filter((r) => r.kind.startsWith("nodedocker-"));
    await Promise.all([reapNodeDocker(mine[0]!, resources), reapNodeDocker(mine[0]!, resources)]);
    const reports = await reapOrphans(mine);
    expect(reports.flatMap((r) => r.failed)).toEqual([]);
    expect(await nodeLeftovers(dk1, runId, image)).toEqual([]);
  }, 120_000);

  it("builds `build.context` on this host's engine, ships it to the node, and removes it from both engines at the end", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    const context = fs.mkdtempSync(path.join(os.tmpdir(), "mb-node-build-"));
    fs.writeFileSync(path.join(context, "Dockerfile"), `FROM ${image}\nRUN echo built-here > /www-extra\nCMD ["sh", "-c", "mkdir -p /www && cp /www-extra /www/extra && exec /bin/serve"]\n`);
    const runId = testRunId("nb");
    try {
      harness = await Harness.builder({ runId })
        .remoteLan("built", { ...on(dk1), docker: { build: { context } }, port: 8300, health: { http: "/health" } })
        .start();
      expect(await get(harness.service("built").addr, "/extra")).toBe("built-here");
      const tag = `mb-${runId}-built:latest`;
      expect((await nodeEngine(dk1).listImages()).flatMap((i) => i.RepoTags ?? [])).toContain(tag);
      await harness.stop();
      harness = undefined;
      expect(await nodeLeftovers(dk1, runId, tag)).toEqual([]);
      expect(await leftovers(runId)).toEqual([]);
    } finally {
      fs.rmSync(context, { recursive: true, force: true });
    }
  }, 120_000);

  it("fails preflight with E_DOCKER_UNAVAILABLE naming the node when it has no engine, leaving nothing behind", async () => {
    const image = await busyboxImage();
    const lan2 = labOf().node("lan2");
    const runId = testRunId("nd");
    const error = await Harness.builder({ runId })
      .docker("c1", { image, port: 8080 })
      .remoteLan("n1", { ...on(lan2), docker: { image }, port: 8080 })
      .start()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe("E_DOCKER_UNAVAILABLE");
    expect((error as HarnessError).service).toBe("n1");
    expect((error as Error).message).toContain(`node ${lan2.user}@${lan2.host}`);
    expect((error as Error).message).toMatch(/install one there/);
    expect(await leftovers(runId)).toEqual([]);
  });

  it("bad input on the node: image missing everywhere, port taken on the node, container exiting at once — each names the service, the node and what to do, and leaves nothing", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    const where = `node ${dk1.user}@${dk1.host}`;
    const failure = async (build: (b: ReturnType<typeof Harness.builder>) => ReturnType<typeof Harness.builder>, runId: string) =>
      (await build(Harness.builder({ runId }))
        .start()
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as HarnessError;

    const missing = testRunId("nb");
    // `pull: "never"`: no registry is asked (no traffic leaves the lab).
    const e1 = await failure((b) => b.remoteLan("ghost", { ...on(dk1), docker: { image: "meshbed-test/never-built:1", pull: "never" }, port: 8080 }), missing);
    expect(e1).toBeInstanceOf(HarnessError);
    expect([e1.code, e1.service]).toEqual(["E_IMAGE_NOT_FOUND", "ghost"]);
    expect(e1.message).toContain(where);
    expect(e1.message).toMatch(/load it on either/);

    // Something of the node's own holds the port.
    const holder = labOf().exec("dk1", ["timeout", "20", process.execPath, "-e", "require('net').createServer().listen(8090, () => console.log('up'))"]);
    await expect.poll(async () => (await labOf().exec("dk1", ["ss", "-Htln", "sport = :8090"])).stdout.trim() !== "", { timeout: 10_000 }).toBe(true);
    // A node port the user fixed (`"8090:8090"`) is an error; without it the container moves to a free port of the node.
    const taken = testRunId("nb");
    const e2 = await failure((b) => b.remoteLan("clash", { ...on(dk1), docker: { image, ports: ["8090:8090"] }, port: 8090 }), taken);
    expect([e2.code, e2.service]).toEqual(["E_PORT_IN_USE", "clash"]);
    expect(e2.message).toContain(where);
    expect(e2.message).toMatch(/stop what holds it on the node, or publish it on another node port/);
    const moved = await Harness.builder({ runId: testRunId("nb") })
      .process("caller", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .remoteLan("mover", {
        ...on(dk1),
        // `docker.env` is the container's env, interpolated like the service's.
        docker: { image, env: { GREETING: "hi from ${HARNESS_SERVICE}" }, command: ["sh", "-c", 'mkdir -p /www && echo "$GREETING" > /www/greeting && exec /bin/serve'] },
        port: 8090,
        health: { http: "/health" },
      })
      .start();
    try {
      const addr = moved.service("mover").addr!;
      expect(addr).toMatch(new RegExp(`^${dk1.host.replace(/\./g, "\\.")}:\\d+$`));
      expect(addr).not.toBe(`${dk1.host}:8090`);
      // The container still listens on its own port (its PORT); callers are given the node's port.
      expect(moved.envFor("mover").PORT).toBe("8090");
      expect(moved.envFor("caller").MOVER_ADDR).toBe(addr);
      expect(await get(addr, "/whoami")).toBe("mover");
      expect(await get(addr, "/greeting")).toBe("hi from mover");
      expect((await moved.service("mover").status()).publishedPorts).toEqual({ 8090: Number(addr.split(":")[1]) });
    } finally {
      await moved.stop();
    }
    await labOf().exec("dk1", ["sh", "-c", "kill $(ss -Htlnp 'sport = :8090' | grep -o 'pid=[0-9]*' | cut -d= -f2) 2>/dev/null; true"]);
    // Killed by that: its end, not its result, is what counts.
    await holder.catch(() => undefined);

    const exits = testRunId("nb");
    const e3 = await failure((b) => b.remoteLan("quitter", { ...on(dk1), docker: { image, command: ["sh", "-c", "echo bye; exit 3"] }, port: 8080 }), exits);
    expect(e3).toBeInstanceOf(HarnessError);
    expect(e3.service).toBe("quitter");
    expect(e3.message).toContain(where);
    expect(e3.message).toMatch(/exit|code 3/);

    for (const runId of [missing, taken, exits]) {
      expect(await nodeLeftovers(dk1, runId, image), runId).toEqual([]);
      expect(await leftovers(runId), runId).toEqual([]);
    }
  }, 120_000);

  it("applies `entrypoint`, `command`, `files` and `init` of a container on a node", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    harness = await Harness.builder({ runId: testRunId("no") })
      .remoteLan("opts", {
        ...on(dk1),
        docker: {
          image,
          entrypoint: ["sh", "-c"],
          command: ["mkdir -p /www && cat /etc/greeting > /www/greeting && cat /proc/1/comm > /www/pid1 && exec /bin/serve"],
          files: { "/etc/greeting": "from files\n" },
          init: true,
        },
        port: 8095,
        health: { http: "/health" },
      })
      .start();
    const addr = harness.service("opts").addr;
    expect(await get(addr, "/greeting")).toBe("from files");
    // PID 1 is the engine's init, the entrypoint's shell its child.
    expect(await get(addr, "/pid1")).toBe("docker-init");
  });

  it("a node that cannot be logged in to while its free ports are read is E_SSH_CONNECT naming the service, before anything is made", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    const runId = testRunId("nf");
    // Port 2222 of the lab's own node: nothing listens there.
    const error = (await Harness.builder({ runId })
      .docker("c1", { image, port: 8080 })
      .remoteLan("far", { ...on(dk1), ssh: { ...dk1.ssh, port: 2222 }, docker: { image }, port: 8080 })
      .start()
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as HarnessError;
    expect(error).toBeInstanceOf(HarnessError);
    expect([error.code, error.service]).toEqual(["E_SSH_CONNECT", "far"]);
    expect(error.message).toContain('Service "far"');
    expect(await leftovers(runId)).toEqual([]);
  });

  it("refuses `docker` beside `binary` or `package`, naming the service", () => {
    const dk1 = { host: "10.0.0.1", user: "root" };
    expect(() => Harness.builder().remoteLan("x", { ...dk1, binary: "/bin/true", docker: { image: "a" } } as never)).toThrow(/exactly one of `binary`, `package` and `docker`/);
    expect(() => Harness.builder().wireguard("y", { ...dk1, package: "./p.tar.gz", docker: { image: "a" } } as never)).toThrow(/"y".*|exactly one/);
  });
});

/**
 * Every caller → target pair where one side is of a new kind (`isNew`): whether the caller was given
 * the table's address, and whether a real request from the caller to that address reaches the target.
 * Containers answer `/call` through busybox's CGI.
 */
async function connectCells(harness: Harness, names: readonly string[], isNew: (name: string) => boolean, expectedAddr: (caller: string, target: string) => string) {
  const pairs = names.flatMap((caller) => names.filter((t) => t !== caller && (isNew(caller) || isNew(t))).map((t) => [caller, t] as const));
  const cells = new Set<string>();
  const failures: string[] = [];
  await Promise.all(
    pairs.map(async ([caller, target]) => {
      const variable = `${target.toUpperCase()}_ADDR`;
      const given = harness.envFor(caller)[variable];
      const viaCgi = caller.startsWith("c") || isNew(caller);
      const answer = await get(harness.service(caller).addr, viaCgi ? `/cgi-bin/call?${variable}` : `/call/${variable}`).catch((e: Error) => `error ${e.message}`);
      cells.add(`${KIND[caller[0] as keyof typeof KIND]} → ${KIND[target[0] as keyof typeof KIND]}`);
      if (given !== expectedAddr(caller, target)) failures.push(`${caller}→${target}: ${variable}=${given}, table says ${expectedAddr(caller, target)}`);
      if (answer !== `${given} -> ${target}`) failures.push(`${caller}→${target} via ${variable}=${given}: ${answer}`);
    }),
  );
  return { failures, cells };
}
