import { describe, expect, it } from "vitest";
import { addressIn, chooseLabSubnets, parseCidr, routeDestinations } from "../../src/lab/lab-subnets.js";

describe("lab subnets", () => {
  const routes = routeDestinations(
    [
      "default via 192.0.2.1 dev eth0",
      "10.240.0.0/24 dev mb-abcde-lan proto kernel scope link src 10.240.0.1",
      "10.240.1.0/24 via 10.240.2.2 dev mb-abcde-wan",
      "local 10.240.4.1 dev lo table local proto kernel scope host src 10.240.4.1",
      "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2",
    ].join("\n"),
  );

  it("reads every destination of `ip route` but the default route", () => {
    expect(routes).toHaveLength(4);
    expect(routes).toContainEqual(parseCidr("10.240.4.1"));
  });

  it("takes the first /22 that overlaps no route, split into LAN, WAN and transit", () => {
    // 10.240.0.0/22 and 10.240.4.0/22 are touched by routes: the next block is free.
    expect(chooseLabSubnets(routes)).toEqual({ lan: "10.240.8.0/24", wan: "10.240.9.0/24", transit: "10.240.10.0/30" });
    expect(chooseLabSubnets([])).toEqual({ lan: "10.240.0.0/24", wan: "10.240.1.0/24", transit: "10.240.2.0/30" });
    // A wide route over the whole pool leaves nothing.
    expect(chooseLabSubnets([parseCidr("10.0.0.0/8")!])).toBeUndefined();
  });

  it("never picks from the host's own network or the mesh's default", () => {
    const chosen = chooseLabSubnets([]);
    for (const subnet of Object.values(chosen!)) {
      expect(subnet.startsWith("192.0.2.")).toBe(false);
      expect(subnet.startsWith("10.42.")).toBe(false);
    }
  });

  it("numbers hosts inside a subnet", () => {
    expect(addressIn("10.240.8.0/24", 1)).toBe("10.240.8.1");
    expect(addressIn("10.240.10.0/30", 2)).toBe("10.240.10.2");
    expect(() => addressIn("10.240.10.0/30", 3)).toThrow(RangeError);
  });
});
