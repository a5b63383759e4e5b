import { describe, expect, test } from "vitest";
import { edgeKey, faultEdges } from "../../src/plan/fault-edges.js";
import { addrFor, makePlan } from "../../src/plan/plan.js";
import { Harness } from "../../src/public/index.js";
import { parseTopology } from "../../src/topology/yaml.js";
import { thrown as errorOf } from "../support/errors.js";
import { hostFacts } from "./fixtures.js";

const node = process.execPath;

describe("fault edges in the spec", () => {
  test("`faults.edges` and `faultable` give the edges, each once, in order", () => {
    const spec = Harness.builder({
      faults: {
        edges: [
          ["api", "db"],
          ["worker", "db"],
          ["api", "db"],
        ],
      },
    })
      .process("db", { binary: node, port: 5432 })
      .process("api", { binary: node, port: 0 })
      .process("worker", { binary: node })
      .process("cache", { binary: node, port: 6379, faultable: true })
      .toSpec();
    expect(faultEdges(spec)).toEqual([
      { caller: "api", target: "db" },
      { caller: "worker", target: "db" },
      { caller: "db", target: "cache" },
      { caller: "api", target: "cache" },
      { caller: "worker", target: "cache" },
    ]);
    expect(spec.services.find((s) => s.name === "cache")!.faultable).toBe(true);
    expect(spec.services.find((s) => s.name === "db")!.faultable).toBeUndefined();
  });

  test("YAML: top-level `faults.edges` and a service's `faultable`", () => {
    const spec = parseTopology(
      `faults:\n  edges:\n    - [api, db]\nservices:\n  db:\n    faultable: true\n    target:\n      process:\n        binary: ${node}\n    port: 5432\n  api:\n    target:\n      process:\n        binary: ${node}\n`,
    );
    expect(spec.options.faults).toEqual({ edges: [["api", "db"]] });
    expect(faultEdges(spec)).toEqual([{ caller: "api", target: "db" }]);
    expect(errorOf(() => parseTopology(`faults:\n  edge: []\nservices:\n  db:\n    target:\n      process:\n        binary: ${node}\n`)).message).toMatch(
      /Unknown key `edge`: did you mean `edges`\?/,
    );
  });

  test("bad edges are refused with the field and what to do", () => {
    expect(errorOf(() => Harness.builder({ faults: { edges: [["api"]] as never } })).message).toMatch(/`faults\.edges\[0\]`.*\[caller, target\] pair/);
    expect(errorOf(() => Harness.builder({ faults: { edges: [["api", "api"]] } })).message).toMatch(/two different services/);
    expect(errorOf(() => Harness.builder({ faults: { edges: "api>db" as never } })).message).toMatch(/list of \[caller, target\] pairs/);
    const spec = Harness.builder({ faults: { edges: [["api", "dbb"]] } })
      .process("db", { binary: node, port: 5432 })
      .process("api", { binary: node })
      .toSpec();
    const error = errorOf(() => faultEdges(spec));
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toBe('`faults.edges[0][1]` names "dbb", which is not in the topology: did you mean "db"?');
  });
});

describe("the plan routes a fault edge's caller through its proxy", () => {
  const spec = Harness.builder({
    faults: {
      edges: [
        ["api", "db"],
        ["box", "db"],
        ["lan", "db"],
        ["api", "box"],
      ],
    },
  })
    .process("db", { binary: node, port: 5432 })
    .process("api", { binary: node, port: 0 })
    .docker("box", { image: "busybox", port: 8080 })
    .remoteLan("lan", { host: "10.9.0.2", user: "root", binary: node, port: 8090 })
    .toSpec();
  const proxyPorts = { [edgeKey("api", "db")]: 40001, [edgeKey("box", "db")]: 40002, [edgeKey("lan", "db")]: 40003, [edgeKey("api", "box")]: 40004 };
  const plan = makePlan(
    spec,
    hostFacts({
      ports: { api: 41000 },
      hostPorts: { box: 42000 },
      ips: { box: { containerIp: "172.30.0.2" }, lan: { lanIp: "10.9.0.2" } },
      addresses: { containerGateway: "172.30.0.1", lanIpToward: { "10.9.0.2": "10.9.0.1" } },
      proxyPorts,
    }),
  );

  test("each caller gets the proxy where it reaches this host; the proxy forwards to the target's address from the host", () => {
    expect(plan.proxies).toEqual([
      { caller: "api", target: "db", listen: { host: "127.0.0.1", port: 40001 }, upstream: { host: "127.0.0.1", port: 5432 } },
      { caller: "box", target: "db", listen: { host: "172.30.0.1", port: 40002 }, upstream: { host: "127.0.0.1", port: 5432 } },
      { caller: "lan", target: "db", listen: { host: "10.9.0.1", port: 40003 }, upstream: { host: "127.0.0.1", port: 5432 } },
      { caller: "api", target: "box", listen: { host: "127.0.0.1", port: 40004 }, upstream: { host: "172.30.0.2", port: 8080 } },
    ]);
    expect(plan.services.api!.env.DB_ADDR).toBe("127.0.0.1:40001");
    expect(plan.services.api!.env.DB_PORT).toBe("40001");
    expect(plan.services.box!.env.DB_ADDR).toBe("172.30.0.1:40002");
    expect(plan.services.lan!.env.DB_ADDR).toBe("10.9.0.1:40003");
    expect(plan.services.api!.env.BOX_ADDR).toBe("127.0.0.1:40004");
    expect(addrFor(plan, "db", "lan")).toBe("10.9.0.1:40003");
  });

  test("edges not declared, and the harness's own addresses, are direct", () => {
    expect(plan.services.lan!.env.API_ADDR).toBe("10.9.0.1:41000");
    expect(plan.services.db!.env.API_ADDR).toBe("127.0.0.1:41000");
    expect(plan.services.db!.addr).toBe("127.0.0.1:5432");
    expect(plan.services.box!.env.API_ADDR).toBe("172.30.0.1:41000");
  });

  test("an edge to a service without a port is refused, naming it", () => {
    const noPort = Harness.builder({ faults: { edges: [["api", "worker"]] } })
      .process("worker", { binary: node })
      .process("api", { binary: node })
      .toSpec();
    const error = errorOf(() => makePlan(noPort, hostFacts({ proxyPorts: { [edgeKey("api", "worker")]: 40001 } })));
    expect(error).toMatchObject({ code: "E_CONFIG", service: "worker" });
    expect(error.message).toMatch(/Service "worker" has no port.*give "worker" a `port`/);
  });

  test("a topology without fault edges plans no proxy", () => {
    const plain = makePlan(Harness.builder().process("db", { binary: node, port: 5432 }).toSpec(), hostFacts());
    expect(plain.proxies).toEqual([]);
  });
});
