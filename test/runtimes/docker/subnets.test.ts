import { describe, expect, it } from "vitest";
import { type Cidr, SUBNET_POOLS, chooseSubnet, formatCidr, gatewayOf, hostAddress, overlaps, parseCidr, parseIpRoutes, parseProcRoutes } from "../../../src/runtimes/docker/subnets.js";

const cidr = (text: string): Cidr => parseCidr(text)!;

describe("the run network's subnet (pure)", () => {
  it("parses every table of `ip -4 route show table all`, without the default route", () => {
    const text = `default via 192.0.2.1 dev eth0
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
10.99.0.0/16 via 192.0.2.9 dev eth0 table 100
unreachable 10.200.7.0/24
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2
`;
    expect(parseIpRoutes(text).map(formatCidr)).toEqual(["172.17.0.0/16", "192.0.2.0/24", "10.99.0.0/16", "10.200.7.0/24", "127.0.0.0/8", "192.0.2.255/32"]);
  });

  it("parses /proc/net/route when `ip` is missing", () => {
    const text = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
    expect(parseProcRoutes(text).map(formatCidr)).toEqual(["172.17.0.0/16", "192.0.2.0/24"]);
  });

  it("never picks a subnet that overlaps a route, a docker network, or the host's own 192.0.2.0/24", () => {
    const taken = [cidr("192.0.2.0/24"), cidr("172.17.0.0/16"), cidr("10.42.0.0/16")];
    for (let i = 0; i < 200; i++) {
      const chosen = chooseSubnet(taken, 3, () => i / 200)!;
      expect(chosen.bits).toBe(24);
      expect(taken.some((t) => overlaps(t, chosen))).toBe(false);
      expect(overlaps(SUBNET_POOLS[0]!, chosen)).toBe(true);
    }
  });

  it("moves on to the next candidate, and to the next pool when one is full", () => {
    expect(formatCidr(chooseSubnet([cidr("10.200.0.0/24")], 2, () => 0)!)).toBe("10.200.1.0/24");
    expect(formatCidr(chooseSubnet([cidr("10.200.0.0/13")], 2, () => 0)!)).toBe("172.24.0.0/24");
    expect(chooseSubnet([cidr("0.0.0.0/1"), cidr("128.0.0.0/1")], 2)).toBeUndefined();
  });

  it("grows the subnet for many containers", () => {
    expect(chooseSubnet([], 300, () => 0)!.bits).toBe(23);
  });

  it("gives the gateway the first address and containers the next ones", () => {
    const subnet = cidr("10.200.5.0/24");
    expect(gatewayOf(subnet)).toBe("10.200.5.1");
    expect(hostAddress(subnet, 0)).toBe("10.200.5.2");
    expect(hostAddress(subnet, 252)).toBe("10.200.5.254");
    expect(() => hostAddress(subnet, 253)).toThrow(RangeError);
  });

  it("reads CIDRs strictly", () => {
    expect(parseCidr("10.1.2.3/8")).toEqual(cidr("10.0.0.0/8"));
    expect(parseCidr("10.1.2.3")).toEqual({ base: 0x0a010203, bits: 32 });
    for (const bad of ["default", "fe80::/64", "10.0.0.0/33", "10.0.0/8", "256.0.0.0/8"]) expect(parseCidr(bad)).toBeUndefined();
  });
});
