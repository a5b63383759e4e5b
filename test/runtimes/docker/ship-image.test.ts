/**
 * Shipping an image to a lab node's own engine when the node has its base already: the base's layers
 * stay out of the archive, the node's engine loads it all the same, and the node runs it. And a wrong
 * guess about what the node has costs a second, whole, ship — never the start.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// Before any import of meshbed's: the docker area's debug log is read when its module loads.
vi.hoisted(() => {
  process.env.DEBUG = "meshbed:docker";
});

import { Harness } from "../../../src/public/index.js";
import type { LabNode } from "../../../src/public/lab.js";
import { buildImage, removeImage } from "../../../src/runtimes/docker/images.js";
import { connectNodeEngine } from "../../../src/runtimes/docker/node-engine.js";
import { shipImage } from "../../../src/runtimes/docker/ship-image.js";
import { resolveDestination } from "../../../src/ssh/ssh-destination.js";
import { sshPool } from "../../../src/ssh/ssh-pool.js";
import { busyboxImage, dockerAvailable, leftovers, testDocker, testRunId } from "../../support/images.js";
import { labAvailable, labForSuite, on } from "../../support/lab.js";

const ready = labAvailable() && (await dockerAvailable());
const LABEL = { "meshbed.test": "ship" };

function nodeEngine(node: LabNode): Docker {
  return new Docker({ socketPath: node.dockerHost!.slice("unix://".length) });
}

async function get(addr: string | undefined, urlPath: string): Promise<string> {
  return (await (await fetch(`http://${addr}${urlPath}`, { signal: AbortSignal.timeout(15_000) })).text()).trim();
}

/** The size of the whole archive `docker save` gives for `ref`. */
async function archiveSize(ref: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of (await testDocker().getImage(ref).get()) as AsyncIterable<Buffer>) bytes += chunk.length;
  return bytes;
}

/** An image built on this host's engine from a Dockerfile, tagged for this test file. */
async function built(dir: string, name: string, dockerfile: string, files: Record<string, string | Buffer> = {}): Promise<string> {
  const context = path.join(dir, name);
  fs.mkdirSync(context, { recursive: true });
  fs.writeFileSync(path.join(context, "Dockerfile"), dockerfile);
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(context, file), content);
  const tag = `meshbed-test/ship-${name}:${crypto.randomBytes(4).toString("hex")}`;
  await buildImage(testDocker(), { context, dockerfile: "Dockerfile", tag, labels: LABEL }, "test", AbortSignal.timeout(120_000));
  return tag;
}

/** The node's engine over its SSH connection, as a run reaches it. */
async function overSsh<T>(node: LabNode, use: (docker: Docker) => Promise<T>): Promise<T> {
  const connection = sshPool.acquire(resolveDestination(node.host, node.user, node.ssh));
  try {
    await connection.connect();
    return await use((await connectNodeEngine(connection, ["test"])).docker);
  } finally {
    await sshPool.release(connection);
  }
}

describe.skipIf(!ready)("shipping an image to a node that has some of its layers", () => {
  const labOf = labForSuite([{ name: "sb1", network: "lan", docker: true }]);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mb-ship-"));
  const images: string[] = [];
  let base: string;

  beforeAll(async () => {
    base = await busyboxImage();
    // The node has the base, as it would after an earlier run (a node that had nothing gets it whole).
    const first = await shipImage(testDocker(), nodeEngine(labOf().node("sb1")), base, { service: "test", node: "sb1", write: () => {} });
    expect(first.leftOut.layers).toBe(0);
  });

  afterAll(async () => {
    for (const image of images) await removeImage(testDocker(), image).catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("leaves the base's layers out of the archive, and the node runs the image with all of them", async () => {
    const node = labOf().node("sb1");
    const image = await built(work, "derived", `FROM ${base}\nCOPY extra /www/extra\n`, { extra: crypto.randomBytes(512 * 1024).toString("hex") });
    images.push(image);
    const baseLayers = (await testDocker().getImage(base).inspect()).RootFS.Layers!;
    const whole = await archiveSize(image);

    const result = await overSsh(node, (docker) => shipImage(testDocker(), docker, image, { service: "app", node: "sb1", write: () => {} }));
    expect(result.retried).toBe(false);
    expect(result.leftOut.layers).toBe(baseLayers.length);
    // Every byte is either sent or left out; what was left out is the base (about 2 MB, the new layer 1 MB).
    expect(result.bytes + result.leftOut.bytes).toBe(whole);
    expect(result.leftOut.bytes).toBeGreaterThan(result.bytes);
    expect((await nodeEngine(node).getImage(image).inspect()).RootFS.Layers).toEqual((await testDocker().getImage(image).inspect()).RootFS.Layers);

    // The image is on the node now: the run starts it there, from its base's files and its own.
    const harness = await Harness.builder({ runId: testRunId("sh") })
      .remoteLan("app", { ...on(node), docker: { image }, port: 8400, health: { http: "/health" } })
      .start();
    try {
      expect(await get(harness.service("app").addr, "/whoami")).toBe("app");
      expect((await get(harness.service("app").addr, "/extra")).length).toBe(1024 * 1024);
    } finally {
      await harness.stop();
    }
  }, 120_000);

  it("a run's build FROM the node's base is shipped without the base (the debug log says how much was left out) and runs", async () => {
    const node = labOf().node("sb1");
    const context = path.join(work, "build");
    fs.mkdirSync(context, { recursive: true });
    fs.writeFileSync(path.join(context, "Dockerfile"), `FROM ${base}\nRUN echo built-here > /www/built\n`);
    const runId = testRunId("sh");
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).includes("meshbed:docker shipped")) lines.push(String(chunk));
      return write(chunk, ...(rest as []));
    });
    try {
      const harness = await Harness.builder({ runId })
        .remoteLan("built", { ...on(node), docker: { build: { context } }, port: 8401, health: { http: "/health" } })
        .start();
      try {
        expect(await get(harness.service("built").addr, "/built")).toBe("built-here");
      } finally {
        await harness.stop();
      }
    } finally {
      spy.mockRestore();
    }
    const baseLayers = (await testDocker().getImage(base).inspect()).RootFS.Layers!;
    expect(lines.join("")).toMatch(new RegExp(`shipped mb-${runId}-built:latest to \\S+: \\d+ bytes \\(${baseLayers.length} layers the node has left out: \\d+ bytes\\)`));
    expect(await leftovers(runId)).toEqual([]);
  }, 120_000);

  it("ships the image again whole when the node lacks a layer it seemed to have, and the load succeeds", async () => {
    const node = labOf().node("sb1");
    // Two layers of its own, neither of which the node has.
    const image = await built(work, "unknown", "FROM scratch\nCOPY one /one\nCOPY two /two\n", { one: crypto.randomBytes(64 * 1024), two: "two\n" });
    images.push(image);
    const layers = (await testDocker().getImage(image).inspect()).RootFS.Layers!;
    const whole = await archiveSize(image);
    // A wrong guess: the node is said to have the first layer.
    const result = await overSsh(node, (docker) => shipImage(testDocker(), docker, image, { service: "guess", node: "sb1", write: () => {} }, async () => layers.slice(0, 1)));
    expect(result.retried).toBe(true);
    expect(result.leftOut).toEqual({ layers: 0, bytes: 0 });
    // The filtered archive and then the whole one.
    expect(result.bytes).toBeGreaterThan(whole);
    expect((await nodeEngine(node).getImage(image).inspect()).RootFS.Layers).toEqual(layers);
  }, 120_000);
});
