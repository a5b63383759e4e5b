import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import type { LabNode } from "../../src/public/lab.js";
import { busyboxImage, dockerAvailable } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

async function get(addr: string | undefined, urlPath: string): Promise<string> {
  const response = await fetch(`http://${addr}${urlPath}`, { signal: AbortSignal.timeout(15_000) });
  return (await response.text()).trim();
}

const KIND = { p: "process", c: "container", l: "LAN node", w: "WireGuard node" } as const;

describe.skipIf(!ready)("DESIGN §3: every cell of the address table, on lab nodes through a real mesh", () => {
  const labOf = labForSuite([
    { name: "lan1", network: "lan" },
    { name: "lan2", network: "lan" },
    { name: "wan1", network: "wan" },
    { name: "wan2", network: "wan" },
  ]);
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("connects caller → target for each of the 16 cells (two services of each kind), with only the injected *_ADDR", async () => {
    const image = await busyboxImage();
    const [lan1, lan2, wan1, wan2] = ["lan1", "lan2", "wan1", "wan2"].map((n) => labOf().node(n)) as [LabNode, LabNode, LabNode, LabNode];
    // A WAN node has no route to the LAN: only the mesh joins them.
    expect((await labOf().exec("wan1", ["ping", "-c1", "-W1", lan1.host])).code).not.toBe(0);

    harness = await Harness.builder()
      .process("p1", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .process("p2", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .docker("c1", { image, port: 8080 })
      .docker("c2", { image, port: 8080 })
      .remoteLan("l1", { ...on(lan1), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .remoteLan("l2", { ...on(lan2), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .wireguard("w1", { ...on(wan1), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .wireguard("w2", { ...on(wan2), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .start();

    const mesh = harness.mesh;
    expect(fs.existsSync(`/sys/class/net/${mesh.interfaceName}`)).toBe(true);
    expect(mesh.hubIp).toBe("10.42.0.1");
    const registry = harness.registry();
    const meshOf = (name: string) => registry[name]!.addresses.wireguard!;
    const expectedAddr = (caller: string, target: string): string => {
      const t = harness!.service(target);
      const c = caller[0] as keyof typeof KIND;
      switch (`${c}${target[0]}`) {
        case "pp":
          return `127.0.0.1:${t.port}`;
        case "pc":
        case "cc":
          return t.addresses.container!;
        case "pl":
        case "cl":
        case "ll":
          return t.addresses.lan!;
        case "pw":
        case "cw":
        case "lw":
        case "ww":
        case "wl":
          return meshOf(target);
        case "cp":
          return `${registry[caller]!.addresses.container!.split(".").slice(0, 3).join(".")}.1:${t.port}`;
        case "lp":
          return `${lan1.hostIp}:${t.port}`;
        case "lc":
          return `${lan1.hostIp}:${published[target]}`;
        case "wp":
          return `10.42.0.1:${t.port}`;
        case "wc":
          return `10.42.0.1:${published[target]}`;
      }
      throw new Error(`no cell for ${caller} → ${target}`);
    };

    const names = ["p1", "p2", "c1", "c2", "l1", "l2", "w1", "w2"];
    const published: Record<string, number> = {};
    for (const c of ["c1", "c2"]) published[c] = (await harness.service(c).status()).publishedPorts![8080]!;
    const cells = new Map<string, string[]>();
    const failures: string[] = [];
    await Promise.all(
      names.flatMap((caller) =>
        names
          .filter((t) => t !== caller)
          .map(async (target) => {
            const variable = `${target.toUpperCase()}_ADDR`;
            const given = harness!.envFor(caller)[variable];
            const viaCgi = caller.startsWith("c");
            const answer = await get(harness!.service(caller).addr, viaCgi ? `/cgi-bin/call?${variable}` : `/call/${variable}`).catch((e: Error) => `error ${e.message}`);
            const cell = `${KIND[caller[0] as keyof typeof KIND]} → ${KIND[target[0] as keyof typeof KIND]}`;
            cells.set(cell, [...(cells.get(cell) ?? []), `${caller}→${target}`]);
            if (given !== expectedAddr(caller, target)) failures.push(`${caller}→${target}: ${variable}=${given}, table says ${expectedAddr(caller, target)}`);
            if (answer !== `${given} -> ${target}`) failures.push(`${caller}→${target} via ${variable}=${given}: ${answer}`);
          }),
      ),
    );
    expect(failures).toEqual([]);
    expect(cells.size).toBe(16);
  }, 180_000);
});
