import Docker from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, HarnessError } from "../../../src/public/index.js";
import type { LabNode } from "../../../src/public/lab.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../../support/images.js";
import { labAvailable, labForSuite, on } from "../../support/lab.js";
import { fixture } from "../../support/process-tracker.js";

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

const KIND = { p: "local process", c: "local container", l: "LAN node process", n: "container on a LAN node" } as const;

describe.skipIf(!ready)("containers on a LAN node's own engine (the `docker` option of remoteLan)", () => {
  const labOf = labForSuite([
    { name: "dk1", network: "lan", docker: true },
    { name: "lan2", network: "lan" },
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
    const pairs = names.flatMap((caller) => names.filter((t) => t !== caller && (caller.startsWith("n") || t.startsWith("n"))).map((t) => [caller, t] as const));
    const cells = new Set<string>();
    const failures: string[] = [];
    await Promise.all(
      pairs.map(async ([caller, target]) => {
        const variable = `${target.toUpperCase()}_ADDR`;
        const given = harness!.envFor(caller)[variable];
        const viaCgi = caller.startsWith("c") || caller.startsWith("n");
        const answer = await get(harness!.service(caller).addr, viaCgi ? `/cgi-bin/call?${variable}` : `/call/${variable}`).catch((e: Error) => `error ${e.message}`);
        cells.add(`${KIND[caller[0] as keyof typeof KIND]} → ${KIND[target[0] as keyof typeof KIND]}`);
        if (given !== expectedAddr(caller, target)) failures.push(`${caller}→${target}: ${variable}=${given}, table says ${expectedAddr(caller, target)}`);
        if (answer !== `${given} -> ${target}`) failures.push(`${caller}→${target} via ${variable}=${given}: ${answer}`);
      }),
    );
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

  it("refuses `docker` beside `binary` or `package`, naming the service", () => {
    const dk1 = { host: "10.0.0.1", user: "root" };
    expect(() => Harness.builder().remoteLan("x", { ...dk1, binary: "/bin/true", docker: { image: "a" } } as never)).toThrow(/exactly one of `binary`, `package` and `docker`/);
    expect(() => Harness.builder().wireguard("y", { ...dk1, package: "./p.tar.gz", docker: { image: "a" } } as never)).toThrow(/"y".*|exactly one/);
  });
});
