import { describe, expect, test } from "vitest";
import { type HostAddresses, type Placement, addressFor, formatEndpoint } from "../../src/plan/addresses.js";
import { makePlan } from "../../src/plan/plan.js";
import { Harness } from "../../src/public/index.js";
import { hostFacts } from "./fixtures.js";

/** The new column and row of the address table: a container on a LAN node and on a WireGuard node. */
const lanContainer: Placement = { location: "lan", port: 8080, lanIp: "192.168.50.10", meshIp: "10.42.0.3", nodePort: 18080 };
const wgContainer: Placement = { location: "wireguard", port: 9000, lanIp: "198.51.100.20", meshIp: "10.42.0.2", nodePort: 19000 };
const callers: Record<string, Placement> = {
  process: { location: "host", port: 3000, hostPort: 3000 },
  container: { location: "container", port: 80, hostPort: 32769, containerIp: "172.30.0.3" },
  lan: { location: "lan", port: 7000, lanIp: "192.168.50.11", meshIp: "10.42.0.5" },
  wireguard: { location: "wireguard", port: 7001, lanIp: "198.51.100.21", meshIp: "10.42.0.4" },
};
const host: HostAddresses = { containerGateway: "172.30.0.1", lanIpToward: { "192.168.50.10": "192.168.50.1", "192.168.50.11": "192.168.50.1" }, hubMeshIp: "10.42.0.1" };
const at = (target: Placement, caller: Placement) => {
  const endpoint = addressFor(target, caller, host);
  return endpoint && formatEndpoint(endpoint);
};

describe("containers on nodes in the address table", () => {
  test.each([
    ["process", "192.168.50.10:18080", "10.42.0.2:19000"],
    ["container", "192.168.50.10:18080", "10.42.0.2:19000"],
    ["lan", "192.168.50.10:18080", "10.42.0.2:19000"],
    ["wireguard", "10.42.0.3:18080", "10.42.0.2:19000"],
  ])("a %s caller reaches a container on a LAN node at %s, on a WireGuard node at %s (node address : published port)", (caller, lan, wg) => {
    expect(at(lanContainer, callers[caller]!)).toBe(lan);
    expect(at(wgContainer, callers[caller]!)).toBe(wg);
  });

  test("a container on a node reaches others as a process on that node does (through the node's address)", () => {
    const local = { location: "host", port: 8080, hostPort: 8080 } as const;
    const published = { location: "container", port: 5432, hostPort: 32768, containerIp: "172.30.0.2" } as const;
    expect(at(local, lanContainer)).toBe("192.168.50.1:8080");
    expect(at(published, lanContainer)).toBe("192.168.50.1:32768");
    expect(at(local, wgContainer)).toBe("10.42.0.1:8080");
    expect(at(published, wgContainer)).toBe("10.42.0.1:32768");
    expect(at(callers.lan!, lanContainer)).toBe("192.168.50.11:7000");
  });
});

describe("the plan of a container on a LAN node", () => {
  const spec = Harness.builder()
    .process("api", { binary: "/bin/true", port: 8080 })
    .remoteLan("db", { host: "192.168.50.10", user: "root", docker: { image: "postgres:14", command: ["postgres", "-p", "${PORT}"] }, port: 5432 })
    .toSpec();
  const plan = makePlan(spec, hostFacts({ ips: { db: { lanIp: "192.168.50.10" } }, addresses: { lanIpToward: { "192.168.50.10": "192.168.50.1" } } }));

  test("publishes its port on the node at the same number: every caller gets the node's address", () => {
    expect(plan.services.db!.placement).toMatchObject({ location: "lan", port: 5432, nodePort: 5432 });
    expect(plan.services.db!.addr).toBe("192.168.50.10:5432");
    expect(plan.services.api!.env.DB_ADDR).toBe("192.168.50.10:5432");
    expect(plan.services.db!.env.API_ADDR).toBe("192.168.50.1:8080");
  });

  test("`docker.command` is the service's args, interpolated", () => {
    expect(plan.services.db!.args).toEqual(["postgres", "-p", "5432"]);
  });
});

describe("the `docker` option of remoteLan and wireguard", () => {
  const node = { host: "192.168.50.10", user: "root" };

  test("is validated as a docker service's options are", () => {
    expect(() => Harness.builder().remoteLan("db", { ...node, docker: { image: "a b" } })).toThrow(/`docker.image` of service "db"|image reference without spaces/);
    expect(() => Harness.builder().remoteLan("db", { ...node, docker: {} as never })).toThrow(/exactly one of `image` and `build`/);
    expect(() => Harness.builder().remoteLan("db", { ...node, docker: { image: "a", nope: 1 } as never })).toThrow(/nope/);
  });

  test("excludes `binary`, `package` and `args`", () => {
    expect(() => Harness.builder().remoteLan("db", { ...node, binary: "/bin/true", docker: { image: "a" } } as never)).toThrow(
      /exactly one of `binary`, `package` and `docker`.*`binary` and `docker`/,
    );
    expect(() => Harness.builder().wireguard("gen", { ...node, package: "./p.tar.gz", docker: { image: "a" } } as never)).toThrow(/"gen".*exactly one of `binary`, `package` and `docker`/);
    expect(() => Harness.builder().remoteLan("db", { ...node, docker: { image: "a" }, args: ["x"] } as never)).toThrow(/`docker.command`/);
    // What was refused before still is, in the same words.
    expect(() => Harness.builder().remoteLan("db", { ...node, binary: "/bin/true", package: "./p" } as never)).toThrow(/got `"both"`/);
  });

  test("is read from YAML", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mb-node-docker-"));
    const file = path.join(dir, "services.yaml");
    fs.writeFileSync(
      file,
      "services:\n  db:\n    port: 5432\n    target:\n      remote_lan:\n        host: 192.168.50.10\n        user: root\n        docker:\n          image: postgres:14\n          pull: never\n",
    );
    const spec = Harness.fromFile(file).toSpec();
    fs.rmSync(dir, { recursive: true, force: true });
    const db = spec.services.find((s) => s.name === "db")!;
    expect(db.target).toBe("remote_lan");
    expect((db.options as { docker?: { image?: string; pull?: string } }).docker).toMatchObject({ image: "postgres:14", pull: "never" });
  });
});
