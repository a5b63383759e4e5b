/**
 * A reaper must not look for a node whose lab is gone: with no route of the lab left, a packet to
 * its address would leave by the default route.
 */
import { describe, expect, it } from "vitest";
// The check is the host's (src/host/routes.ts); the lab this suite creates registers its pool with it.
import { isUnroutedPoolAddress as isVanishedLabNode } from "../../src/host/routes.js";
import { labAvailable, labForSuite } from "../support/lab.js";

describe.skipIf(!labAvailable())("isVanishedLabNode", () => {
  const labOf = labForSuite([{ name: "here", network: "lan" }]);

  it("is false for a node of a live lab, true once its lab is gone, and false outside the lab pool", async () => {
    const host = labOf().node("here").host;
    expect(await isVanishedLabNode(host)).toBe(false);
    // Another block of the pool, which no lab of this test holds.
    const [a, b] = host.split(".").map(Number) as [number, number];
    const elsewhere = `${a}.${b === 254 ? 250 : 254}.1.10`;
    expect(await isVanishedLabNode(elsewhere)).toBe(true);
    // A real remote node (not in the lab pool) is always looked for.
    expect(await isVanishedLabNode("10.1.2.3")).toBe(false);
    expect(await isVanishedLabNode("node.example")).toBe(false);
  });
});
