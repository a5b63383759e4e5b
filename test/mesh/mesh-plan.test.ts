import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { generateKeyPair, keyToHex, publicKeyOf } from "../../src/mesh/keys.js";
import { isWireguardKey } from "../../src/mesh/wireguard-options.js";
import { parseIpRouteLines as routesWithLines } from "../../src/host/cidr.js";
import { allocateMesh, checkMeshSubnet } from "../../src/mesh/mesh-plan.js";
import { nodeListenPort } from "../../src/mesh/mesh.js";
import { renderWireguardConf } from "../../src/mesh/node-interface.js";
import { hasNetAdmin } from "../../src/mesh/privilege.js";
import { parseGet, removePeerText, setPeerText } from "../../src/mesh/uapi.js";
import { makePlan } from "../../src/plan/plan.js";
import { Harness } from "../../src/public/index.js";
import type { ServiceSpec } from "../../src/topology/types.js";
import { hostFacts, serviceSpec, topology } from "../plan/fixtures.js";
import { hasCommand } from "../support/prerequisites.js";

describe("mesh addresses (pure)", () => {
  it("gives the hub the first address and each node the next, in the topology's order; services of one node share its address", () => {
    const mesh = allocateMesh("10.42.0.0/16", [
      { service: "postgres", node: "10.240.0.10" },
      { service: "api", node: "10.240.0.11" },
      { service: "cache", node: "10.240.0.10" },
      { service: "load", node: "203.0.113.7" },
    ]);
    expect(mesh).toEqual({
      subnet: "10.42.0.0/16",
      prefix: 16,
      hubIp: "10.42.0.1",
      nodes: { "10.240.0.10": "10.42.0.2", "10.240.0.11": "10.42.0.3", "203.0.113.7": "10.42.0.4" },
      services: { postgres: "10.42.0.2", api: "10.42.0.3", cache: "10.42.0.2", load: "10.42.0.4" },
    });
  });

  it("refuses a subnet too small for its nodes", () => {
    const members = ["a", "b", "c"].map((n, i) => ({ service: n, node: `10.0.0.${i}` }));
    expect(() => allocateMesh("10.42.0.0/30", members)).toThrow(expect.objectContaining({ code: "E_MESH_SUBNET" }));
  });

  it("refuses a subnet that overlaps a route, naming both; the network's route rather than a local one", () => {
    const routes = routesWithLines(
      ["default via 192.0.2.1 dev eth0", "10.40.0.0/14 dev br0 proto kernel scope link src 10.40.0.1", "local 10.40.0.1 dev br0 table local proto kernel scope host src 10.40.0.1"].join("\n"),
    );
    expect(() => checkMeshSubnet("10.42.0.0/16", routes)).toThrow('The mesh subnet 10.42.0.0/16 overlaps the host\'s route "10.40.0.0/14 dev br0 proto kernel scope link src 10.40.0.1"');
    expect(() => checkMeshSubnet("10.42.0.0/16", routes)).toThrow(expect.objectContaining({ code: "E_MESH_SUBNET" }));
    expect(() => checkMeshSubnet("10.50.0.0/16", routes)).not.toThrow();
    expect(() => checkMeshSubnet("10.50.0.0/31", routes)).toThrow(/at least 4 addresses/);
  });

  it("puts mesh addresses in the plan: LAN and WireGuard callers of a LAN service differ, as in the ADR", () => {
    const plan = makePlan(
      topology(serviceSpec("postgres", "remote_lan", { port: 5432 }), serviceSpec("api-server", "remote_lan", { port: 8080 }), serviceSpec("load-gen", "wireguard", { port: 9000 })),
      hostFacts({
        ips: {
          postgres: { lanIp: "192.168.1.50", meshIp: "10.42.0.50" },
          "api-server": { lanIp: "192.168.1.51", meshIp: "10.42.0.51" },
          "load-gen": { lanIp: "54.23.45.67", meshIp: "10.42.0.10" },
        },
        addresses: { hubMeshIp: "10.42.0.1" },
      }),
    );
    expect(plan.meshNeeded).toBe(true);
    expect(plan.services["api-server"]!.env.POSTGRES_ADDR).toBe("192.168.1.50:5432");
    expect(plan.services["load-gen"]!.env.API_SERVER_ADDR).toBe("10.42.0.51:8080");
    expect(plan.services["load-gen"]!.env.POSTGRES_ADDR).toBe("10.42.0.50:5432");
    expect(plan.services["load-gen"]!.addresses.wireguard).toBe("10.42.0.10:9000");
  });

  it("fixes each node's listen port per run, so that the hub knows it before the node starts", () => {
    expect(nodeListenPort("abc123")).toBe(nodeListenPort("abc123"));
    expect(nodeListenPort("abc123")).toBeGreaterThanOrEqual(20_000);
    expect(nodeListenPort("abc123")).toBeLessThan(50_000);
  });
});

describe("keys and the UAPI protocol (pure)", () => {
  it.skipIf(!hasCommand("wg"))("makes X25519 keys that `wg pubkey` agrees with", () => {
    for (let i = 0; i < 5; i++) {
      const pair = generateKeyPair();
      expect(isWireguardKey(pair.privateKey)).toBe(true);
      expect(
        execFileSync("wg", ["pubkey"], { input: `${pair.privateKey}\n` })
          .toString()
          .trim(),
      ).toBe(pair.publicKey);
      expect(publicKeyOf(pair.privateKey)).toBe(pair.publicKey);
    }
  });

  it("writes set=1 requests with hex keys, and removes a peer by its key", () => {
    const { publicKey } = generateKeyPair();
    const hex = keyToHex(publicKey);
    expect(setPeerText({ publicKey, endpoint: "10.240.1.10:51820", allowedIps: ["10.42.0.2/32"], persistentKeepalive: 25 })).toBe(
      `set=1\npublic_key=${hex}\nendpoint=10.240.1.10:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.42.0.2/32\n\n`,
    );
    expect(removePeerText(publicKey)).toBe(`set=1\npublic_key=${hex}\nremove=true\n\n`);
  });

  it("reads get=1 answers: the port, each peer's endpoint and last handshake", () => {
    const { publicKey } = generateKeyPair();
    const status = parseGet(
      `private_key=00\nlisten_port=41000\npublic_key=${keyToHex(publicKey)}\nendpoint=10.240.1.10:20000\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=500000000\nrx_bytes=10\ntx_bytes=20\nerrno=0\n`,
    );
    expect(status).toEqual({ listenPort: 41000, peers: [{ publicKey, endpoint: "10.240.1.10:20000", lastHandshake: 1_700_000_000_500, rxBytes: 10, txBytes: 20 }] });
  });

  it("writes a node's wireguard.conf in wg's own format, with the hub as its one peer kept alive", () => {
    const conf = renderWireguardConf({
      ifname: "wg-x",
      address: "10.42.0.2/16",
      privateKey: "KEY",
      listenPort: 20001,
      hub: { publicKey: "HUB", endpoint: "10.240.2.1:41000", allowedIps: "10.42.0.0/16" },
      dir: "/opt/harness/.mesh-x",
    });
    expect(conf).toBe("[Interface]\nPrivateKey = KEY\nListenPort = 20001\n\n[Peer]\nPublicKey = HUB\nEndpoint = 10.240.2.1:41000\nAllowedIPs = 10.42.0.0/16\nPersistentKeepalive = 25\n");
  });

  it("reads CAP_NET_ADMIN from the effective set", () => {
    expect(hasNetAdmin("CapEff:\t000001ffffffffff\n")).toBe(true);
    expect(hasNetAdmin("CapEff:\t0000000000000000\n")).toBe(false);
    expect(hasNetAdmin("CapEff:\t0000000000001000\n")).toBe(true);
  });
});

describe("the wireguard target's options", () => {
  it("validates like remote_lan, plus a pre-generated key that is never echoed", () => {
    const key = generateKeyPair().privateKey;
    const builder = Harness.builder().wireguard("load", { host: "10.240.1.10", binary: "sleep", wireguardKey: key });
    expect((builder.toSpec().services[0] as ServiceSpec<"wireguard">).options.wireguardKey).toBe(key);
    expect(() => Harness.builder().wireguard("load", { host: "h", binary: "sleep", wireguardKey: "secret-but-wrong" })).toThrow(/a WireGuard private key/);
    expect(() => Harness.builder().wireguard("load", { host: "h", binary: "sleep", wireguardKey: "secret-but-wrong" })).not.toThrow(/secret-but-wrong/);
    expect(() => Harness.builder().wireguard("load", { host: "h" } as never)).toThrow(/exactly one of `binary`, `package` and `docker`/);
  });

  it("is a YAML target too", async () => {
    const { parseTopology } = await import("../../src/public/index.js");
    const spec = parseTopology(
      "services:\n  load-generator:\n    target:\n      wireguard:\n        host: aws-load-test-1\n        user: ubuntu\n        binary: /opt/load/bin/load\nnetwork:\n  wireguard_subnet: 10.43.0.0/16\n  wireguard_interface: wg-test\n",
      "/tmp/services.yaml",
    );
    expect(spec.services[0]!.target).toBe("wireguard");
    expect(spec.options.network).toEqual({ wireguardSubnet: "10.43.0.0/16", wireguardInterface: "wg-test" });
  });
});
