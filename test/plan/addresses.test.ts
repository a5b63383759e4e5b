import { describe, expect, test } from "vitest";
import { type HostAddresses, type Location, type Placement, addressFor, formatEndpoint } from "../../src/plan/addresses.js";

/**
 * One service of each kind, as targets, with every address it could have, and the harness host's
 * own addresses: the hub is 10.42.0.1 on the mesh, 172.30.0.1 on the run's docker network, and
 * 192.168.50.1 / 192.168.60.1 towards the two LAN networks.
 */
const targets: Record<Location, Placement> = {
  host: { location: "host", port: 8080, hostPort: 8080 },
  container: { location: "container", port: 5432, hostPort: 32768, containerIp: "172.30.0.2" },
  lan: { location: "lan", port: 6379, lanIp: "192.168.50.10", meshIp: "10.42.0.3" },
  wireguard: { location: "wireguard", port: 9000, lanIp: "198.51.100.20", meshIp: "10.42.0.2" },
};

const callers: Record<Location, Placement> = {
  host: { location: "host", port: 3000, hostPort: 3000 },
  container: { location: "container", port: 80, hostPort: 32769, containerIp: "172.30.0.3" },
  lan: { location: "lan", port: 7000, lanIp: "192.168.50.11", meshIp: "10.42.0.5" },
  wireguard: { location: "wireguard", port: 7001, lanIp: "198.51.100.21", meshIp: "10.42.0.4" },
};

const host: HostAddresses = {
  containerGateway: "172.30.0.1",
  lanIpToward: { "192.168.50.10": "192.168.50.1", "192.168.50.11": "192.168.50.1", "192.168.60.7": "192.168.60.1" },
  hubMeshIp: "10.42.0.1",
};

const at = (target: Placement, caller: Placement, addresses: HostAddresses = host) => {
  const endpoint = addressFor(target, caller, addresses);
  return endpoint && formatEndpoint(endpoint);
};

/** DESIGN §3, row by row: caller ↓, target →. */
const table: [caller: Location, target: Location, address: string, cell: string][] = [
  ["host", "host", "127.0.0.1:8080", "127.0.0.1:port"],
  ["host", "container", "172.30.0.2:5432", "container IP"],
  ["host", "lan", "192.168.50.10:6379", "LAN IP"],
  ["host", "wireguard", "10.42.0.2:9000", "mesh IP"],

  ["container", "host", "172.30.0.1:8080", "host gateway IP"],
  ["container", "container", "172.30.0.2:5432", "container IP (run network)"],
  ["container", "lan", "192.168.50.10:6379", "LAN IP"],
  ["container", "wireguard", "10.42.0.2:9000", "mesh IP (via hub)"],

  ["lan", "host", "192.168.50.1:8080", "harness LAN IP"],
  ["lan", "container", "192.168.50.1:32768", "harness LAN IP : published port"],
  ["lan", "lan", "192.168.50.10:6379", "LAN IP"],
  ["lan", "wireguard", "10.42.0.2:9000", "mesh IP"],

  ["wireguard", "host", "10.42.0.1:8080", "hub mesh IP"],
  ["wireguard", "container", "10.42.0.1:32768", "hub mesh IP : published port"],
  ["wireguard", "lan", "10.42.0.3:6379", "its mesh IP"],
  ["wireguard", "wireguard", "10.42.0.2:9000", "mesh IP"],
];

describe("the address table (DESIGN §3)", () => {
  test("has all 16 cells", () => {
    expect(new Set(table.map(([c, t]) => `${c}->${t}`)).size).toBe(16);
  });

  test.each(table)("a %s caller reaches a %s target at %s (%s)", (caller, target, address) => {
    expect(at(targets[target], callers[caller])).toBe(address);
  });

  test("a LAN caller gets the harness's address on its own network", () => {
    const elsewhere: Placement = { location: "lan", port: 1, lanIp: "192.168.60.7" };
    expect(at(targets.host, elsewhere)).toBe("192.168.60.1:8080");
    expect(at(targets.container, elsewhere)).toBe("192.168.60.1:32768");
    // A LAN node that reaches another directly still uses the LAN IP.
    expect(at(targets.lan, elsewhere)).toBe("192.168.50.10:6379");
  });

  test("the ADR's example: on the LAN, LAN IPs; from a WireGuard node, mesh IPs", () => {
    const postgres: Placement = { location: "lan", port: 5432, lanIp: "192.168.1.50", meshIp: "10.42.0.50" };
    const apiServer: Placement = { location: "lan", port: 8080, lanIp: "192.168.1.51", meshIp: "10.42.0.51" };
    const loadGen: Placement = { location: "wireguard", port: undefined, meshIp: "10.42.0.10" };
    expect(at(postgres, apiServer)).toBe("192.168.1.50:5432");
    expect(at(apiServer, loadGen)).toBe("10.42.0.51:8080");
    expect(at(postgres, loadGen)).toBe("10.42.0.50:5432");
  });

  test("the result is the pieces, not only the text", () => {
    expect(addressFor(targets.container, callers.wireguard, host)).toEqual({ host: "10.42.0.1", port: 32768 });
    expect(addressFor(targets.host, callers.host, host)).toEqual({ host: "127.0.0.1", port: 8080 });
  });

  test("a service without a port has an address without one", () => {
    const portless: Placement = { location: "host", port: undefined };
    expect(addressFor(portless, callers.container, host)).toEqual({ host: "172.30.0.1", port: undefined });
    expect(at(portless, callers.host)).toBe("127.0.0.1");
  });

  test("a container without a published port has no port for callers outside the host", () => {
    const unpublished: Placement = { location: "container", port: 5432, containerIp: "172.30.0.2" };
    expect(at(unpublished, callers.container)).toBe("172.30.0.2:5432");
    expect(addressFor(unpublished, callers.lan, host)).toEqual({ host: "192.168.50.1", port: undefined });
  });

  test("an address that the facts do not give is undefined, not a guess", () => {
    expect(addressFor(targets.host, callers.container, {})).toBeUndefined();
    expect(addressFor(targets.host, callers.lan, {})).toBeUndefined();
    expect(addressFor(targets.host, callers.wireguard, {})).toBeUndefined();
    expect(addressFor({ location: "lan", port: 1, lanIp: "192.168.50.10" }, callers.wireguard, host)).toBeUndefined();
    expect(addressFor({ location: "wireguard", port: 1 }, callers.host, host)).toBeUndefined();
  });

  test("formatEndpoint writes ip:port, or the ip alone", () => {
    expect(formatEndpoint({ host: "10.0.0.1", port: 80 })).toBe("10.0.0.1:80");
    expect(formatEndpoint({ host: "10.0.0.1", port: undefined })).toBe("10.0.0.1");
  });
});
