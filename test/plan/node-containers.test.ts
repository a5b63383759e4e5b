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

describe("the node port of a container on a node", () => {
  const spec = Harness.builder()
    .process("api", { binary: "/bin/true", port: 8080 })
    .remoteLan("db", { host: "192.168.50.10", user: "root", docker: { image: "postgres:14" }, port: 5432 })
    .wireguard("gen", { host: "198.51.100.20", user: "root", docker: { image: "gen:1" }, port: 0 })
    .toSpec();
  const facts = hostFacts({
    ports: { gen: 41000 },
    nodePorts: { db: 40123, gen: 41000 },
    ips: { db: { lanIp: "192.168.50.10", meshIp: "10.42.0.3" }, gen: { lanIp: "198.51.100.20", meshIp: "10.42.0.2" } },
    addresses: { lanIpToward: { "192.168.50.10": "192.168.50.1" }, hubMeshIp: "10.42.0.1" },
  });
  const plan = makePlan(spec, facts);

  test("is the port its runtime found free on the node (5432 was taken there): every caller is given it, the container keeps its own port", () => {
    expect(plan.services.db!.placement).toMatchObject({ port: 5432, nodePort: 40123 });
    expect(plan.services.db!.env.PORT).toBe("5432");
    expect(plan.services.db!.addr).toBe("192.168.50.10:40123");
    expect(plan.services.api!.env.DB_ADDR).toBe("192.168.50.10:40123");
    expect(plan.services.gen!.env.DB_ADDR).toBe("10.42.0.3:40123");
  });

  test("`port: 0` takes a free port of the node, inside the container too", () => {
    expect(plan.services.gen!.env.PORT).toBe("41000");
    expect(plan.services.api!.env.GEN_ADDR).toBe("10.42.0.2:41000");
  });

  test("`port: 0` is still refused for a binary or a package on a node, whose free ports are not read", () => {
    expect(() => Harness.builder().remoteLan("x", { host: "192.168.50.10", binary: "/bin/true", port: 0 })).toThrow(/only a container on the node, `docker`, may have `port: 0`/);
  });
});

describe("the `docker` option of remoteLan and wireguard", () => {
  const node = { host: "192.168.50.10", user: "root" };

  test("takes every option of the issue: image | build, command, entrypoint, env, files, pull, init", () => {
    const spec = Harness.builder()
      .remoteLan("db", {
        ...node,
        docker: {
          image: "postgres:14",
          command: ["postgres", "-p", "${PORT}"],
          entrypoint: ["/entry"],
          env: { POSTGRES_PASSWORD: "test", URL: "http://${API_ADDR}/" },
          files: { "/etc/app.conf": "a=1\n" },
          pull: "never",
          init: true,
        },
        env: { TZ: "UTC" },
        port: 5432,
      })
      .wireguard("gen", { ...node, docker: { build: { context: "./gen", dockerfile: "Gen.Dockerfile" } }, port: 9000 })
      .process("api", { binary: "/bin/true", port: 8080 })
      .toSpec();
    const db = spec.services.find((s) => s.name === "db")!;
    expect(db.options).toMatchObject({
      docker: { image: "postgres:14", hasCommand: true, entrypoint: ["/entry"], pull: "never", init: true, files: { "/etc/app.conf": { content: "a=1\n" } } },
    });
    const gen = spec.services.find((s) => s.name === "gen")!;
    expect(gen.options).toMatchObject({ docker: { build: { context: "./gen", dockerfile: "Gen.Dockerfile" } } });
    // `docker.env` is the container's env: beside the service's `env`, interpolated as it is.
    expect(db.env).toEqual({ TZ: "UTC", POSTGRES_PASSWORD: "test", URL: "http://${API_ADDR}/" });
    const plan = makePlan(spec, hostFacts({ ips: { db: { lanIp: "192.168.50.10" }, gen: { lanIp: "192.168.50.10" } }, addresses: { lanIpToward: { "192.168.50.10": "192.168.50.1" } } }));
    expect(plan.services.db!.env).toMatchObject({ POSTGRES_PASSWORD: "test", URL: "http://192.168.50.1:8080/", TZ: "UTC" });
    expect(plan.services.db!.args).toEqual(["postgres", "-p", "5432"]);
  });

  test.each([
    ["env", { env: { "1BAD": "x" } }, /`docker\.env\.1BAD` of service "db".*variable name/],
    ["env", { env: { A: 1n } }, /`docker\.env\.A` of service "db" to be a string/],
    ["env", { env: "A=1" }, /`docker\.env` of service "db" to be an object/],
    ["command", { command: "run" }, /`docker\.command` of service "db"/],
    ["entrypoint", { entrypoint: "/entry" }, /`docker\.entrypoint` of service "db"/],
    ["files", { files: { "relative.conf": "x" } }, /`docker\.files/],
    ["pull", { pull: "sometimes" }, /`docker\.pull` of service "db".*"missing", "never", "always"/],
    ["init", { init: "yes" }, /`docker\.init` of service "db"/],
    ["build", { image: undefined, build: { dockerfile: "D" } }, /`docker\.build\.context` of service "db"/],
  ])("refuses a bad `docker.%s` with E_CONFIG naming the service and the field", (_field, bad, message) => {
    const attempt = () => Harness.builder().remoteLan("db", { ...node, docker: { image: "postgres:14", ...bad } as never, port: 5432 });
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: "E_CONFIG", service: "db" });
    }
  });

  test("refuses one variable both in `env` and in `docker.env`", () => {
    expect(() => Harness.builder().remoteLan("db", { ...node, docker: { image: "a", env: { A: "1" } }, env: { A: "2" }, port: 1 })).toThrow(
      /`env\.A` of service "db" is given twice, in `env` and in `docker.env`: keep one/,
    );
  });

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
      'services:\n  db:\n    port: 5432\n    target:\n      remote_lan:\n        host: 192.168.50.10\n        user: root\n        docker:\n          image: postgres:14\n          pull: never\n          init: true\n          command: [postgres]\n          entrypoint: [/entry]\n          env:\n            POSTGRES_PASSWORD: test\n          files:\n            /etc/app.conf: "a=1"\n',
    );
    const spec = Harness.fromFile(file).toSpec();
    fs.rmSync(dir, { recursive: true, force: true });
    const db = spec.services.find((s) => s.name === "db")!;
    expect(db.target).toBe("remote_lan");
    expect((db.options as { docker?: { image?: string; pull?: string } }).docker).toMatchObject({ image: "postgres:14", pull: "never", init: true, entrypoint: ["/entry"], hasCommand: true });
    expect(db.args).toEqual(["postgres"]);
    expect(db.env).toEqual({ POSTGRES_PASSWORD: "test" });
  });
});
