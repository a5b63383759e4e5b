import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { fetchFromNode, labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");

async function get(addr: string | undefined, urlPath: string, ms = 10_000): Promise<string> {
  const response = await fetch(`http://${addr}${urlPath}`, { signal: AbortSignal.timeout(ms) });
  return (await response.text()).trim();
}

describe.skipIf(!labAvailable())("the mesh across a NAT router, whichever side is behind it", () => {
  const labOf = labForSuite([
    { name: "lan1", network: "lan" },
    { name: "natted", network: "wan", nat: "node" },
    { name: "open", network: "wan", nat: "host" },
  ]);
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("the lab's NAT routers do what they say", async () => {
    const natted = labOf().node("natted");
    const open = labOf().node("open");
    // Behind NAT: the host dials the router's address (SSH is forwarded), and the node's own address is private.
    expect((await labOf().exec("natted", ["ip", "-4", "-o", "addr", "show", "eth0"])).stdout).not.toContain(natted.host);
    // The host behind NAT, as "open" sees it: "open" cannot open a connection to the host.
    const probe = await Harness.builder()
      .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .start();
    try {
      const port = probe.services.local.port;
      expect(await fetchFromNode(labOf(), "open", `http://${open.hostIp}:${port}/whoami`, 1_000)).toBe("failed");
      expect(await fetchFromNode(labOf(), "natted", `http://${natted.hostIp}:${port}/whoami`, 2_000)).toBe("local");
    } finally {
      await probe.stop();
    }
  });

  it("connects every cell that involves a node behind NAT, and one with the hub behind NAT", async () => {
    const h = await Harness.builder()
      .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .remoteLan("lan", { ...on(labOf().node("lan1")), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .wireguard("behind", { ...on(labOf().node("natted")), binary: NODE, args: [HTTP_SERVER], port: 9000, health: { http: "/health" } })
      .wireguard("facing", { ...on(labOf().node("open")), binary: NODE, args: [HTTP_SERVER], port: 9000, health: { http: "/health" } })
      .start();
    harness = h;
    const failures: string[] = [];
    const names = ["local", "lan", "behind", "facing"] as const;
    for (const caller of names) {
      for (const target of names) {
        if (caller === target) continue;
        const variable = `${target.toUpperCase()}_ADDR`;
        const given = h.envFor(caller)[variable];
        const answer = await get(h.service(caller).addr, `/call/${variable}`).catch((e: Error) => `error ${e.message}`);
        if (answer !== `${given} -> ${target}`) failures.push(`${caller}→${target} (${given}): ${answer}`);
      }
    }
    expect(failures).toEqual([]);
    const peers = await h.mesh.peers();
    // Nothing reaches the node behind NAT from outside but SSH: its tunnel is up because it keeps it alive.
    const behind = peers.find((p) => p.services.includes("behind"))!;
    expect(behind.endpoint?.split(":")[0]).toBe(labOf().node("natted").host);
    expect(peers.every((p) => p.lastHandshake > 0)).toBe(true);
  }, 120_000);
});
