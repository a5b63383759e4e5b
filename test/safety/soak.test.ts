/**
 * Soak: N start/stop cycles of a mixed topology (two processes, a container, a service on a lab
 * node) must not grow anything: open file descriptors of this process, its child processes,
 * processes of the runs, containers and networks of the runs, namespaces, or interfaces left on
 * the run's bridges. N = $MESHBED_SOAK_CYCLES (default 20; `npm run soak` runs 200).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import type { Lab } from "../../src/public/lab.js";
import { busyboxImage, dockerAvailable, testDocker } from "../support/images.js";
import { labAvailable } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const ready = labAvailable() && (await dockerAvailable());
const CYCLES = Number(process.env.MESHBED_SOAK_CYCLES ?? 20);
const SERVER = fixture("http-server.mjs");
const PREFIX = `sk${Math.random().toString(36).slice(2, 5)}`;

function openFds(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

/** Live (not zombie) processes whose parent is this process. */
function children(): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === process.pid && state !== "Z") found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Processes of any of this soak's runs, wherever they run (services get HARNESS_RUN_ID). */
function runProcesses(): number {
  let count = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = fs.readFileSync(`/proc/${entry}/environ`, "latin1");
      if (env.includes(`HARNESS_RUN_ID=${PREFIX}`)) count++;
    } catch {
      // Gone, or not readable.
    }
  }
  return count;
}

async function snapshot(lab: Lab, bridges: Set<string>) {
  const docker = testDocker();
  const [containers, networks] = await Promise.all([docker.listContainers({ all: true }), docker.listNetworks()]);
  const links = execFileSync("ip", ["-o", "link"], { encoding: "utf8" }).split("\n").filter(Boolean);
  return {
    fds: openFds(),
    children: children().length,
    runProcesses: runProcesses(),
    containers: containers.filter((c) => c.Names.some((n) => n.startsWith(`/mb-${PREFIX}`))).length,
    networks: networks.filter((n) => n.Name.startsWith(`mb-${PREFIX}`)).length,
    namespaces: execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(lab.id) || l.includes(PREFIX)).length,
    // The runs' bridges, and any veth still enslaved to one.
    interfaces: links.filter((l) => [...bridges].some((b) => l.includes(`: ${b}:`) || l.includes(`master ${b} `))).length,
    allInterfaces: links.length,
  };
}

describe.skipIf(!ready)(`soak: ${CYCLES} start/stop cycles`, () => {
  let lab: Lab;
  let image: string;

  beforeAll(async () => {
    image = await busyboxImage();
    const { Lab } = await import("../../src/public/lab.js");
    lab = await Lab.create({ nodes: [{ name: "w1", network: "lan" }] });
  }, 180_000);
  afterAll(() => lab?.destroy());

  it("grows no file descriptors, processes, containers, networks, namespaces or interfaces", async () => {
    const w1 = lab.node("w1");
    const bridges = new Set<string>();
    const cycle = async (i: number) => {
      const harness = await Harness.builder({ runId: `${PREFIX}-${i}` })
        .process("web", { binary: process.execPath, args: [SERVER], port: 0, health: { http: "/health" } })
        .process("api", { binary: process.execPath, args: [SERVER], port: 0, dependsOn: ["web"] })
        .docker("box", { image, port: 8080 })
        .remoteLan("far", { host: w1.host, user: w1.user, ssh: w1.ssh, binary: process.execPath, args: [SERVER], port: 8101 })
        .start();
      try {
        const answer = await fetch(`http://${harness.services.api.addr}/call/FAR_ADDR`, { signal: AbortSignal.timeout(5_000) });
        expect(await answer.text()).toBe(`${w1.host}:8101 -> far`);
        for (const n of await testDocker().listNetworks({ filters: { label: [`meshbed.run=${harness.runId}`] } })) bridges.add(`br-${n.Id.slice(0, 12)}`);
      } finally {
        await harness.stop();
      }
    };
    // A warm-up: modules, the watchdog, the engine's and the pool's first connections.
    await cycle(0);
    await new Promise((r) => setTimeout(r, 200));
    const before = await snapshot(lab, bridges);
    const started = Date.now();
    const fdTrace: number[] = [];
    for (let i = 1; i <= CYCLES; i++) {
      await cycle(i);
      fdTrace.push(openFds());
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = await snapshot(lab, bridges);
    console.log(`soak: ${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s; before ${JSON.stringify(before)}; after ${JSON.stringify(after)}; fds per cycle ${fdTrace.join(",")}`);
    const { allInterfaces: _a, ...grown } = after;
    const { allInterfaces: _b, ...base } = before;
    expect(grown).toEqual({ ...base, fds: expect.any(Number) });
    expect(after.fds).toBeLessThanOrEqual(before.fds);
    expect({ runProcesses: after.runProcesses, containers: after.containers, networks: after.networks, interfaces: after.interfaces }).toEqual({
      runProcesses: 0,
      containers: 0,
      networks: 0,
      interfaces: 0,
    });
  }, 3_600_000);
});
