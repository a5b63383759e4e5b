import { describe, expect, test } from "vitest";
import { HarnessError } from "../../src/errors.js";
import {
  DROP,
  cgroupSources,
  chainName,
  checkGroups,
  hostChainRemoval,
  hostChainSetup,
  nodeChainSetup,
  nodeScript,
  partitionRules,
  removeNodeChainScript,
} from "../../src/faults/partition-rules.js";
import { makePlan } from "../../src/plan/plan.js";
import { thrown } from "../support/errors.js";
import { hostFacts, serviceSpec, topology } from "../plan/fixtures.js";

/**
 * One topology with a service of each kind (two processes, a container, services on a LAN node and
 * on a WireGuard node, and services without a port), and the harness host's own addresses: the
 * container network's gateway is 172.30.0.1, the host is 192.168.50.1 towards the LAN node, and the
 * hub is 10.42.0.1 on the mesh.
 */
const lan = { host: "192.168.50.10", user: "deploy" };
const wg = { host: "198.51.100.20", user: "ubuntu", ssh: { port: 2222 } };
const plan = makePlan(
  topology(
    serviceSpec("a", "process", { port: 41001 }),
    serviceSpec("b", "process", { port: 41002 }),
    serviceSpec("t", "process"),
    serviceSpec("c", "docker", { port: 8080 }),
    serviceSpec("r", "remote_lan", { port: 6379, options: lan }),
    serviceSpec("r2", "remote_lan", { port: 6380, options: lan }),
    serviceSpec("u", "remote_lan", { options: { ...lan, host: "192.168.50.11", ssh: { port: 2200 } } }),
    serviceSpec("w", "wireguard", { port: 9000, options: wg }),
  ),
  hostFacts({
    hostPorts: { c: 32768 },
    ips: {
      c: { containerIp: "172.30.0.2" },
      r: { lanIp: "192.168.50.10", meshIp: "10.42.0.3" },
      r2: { lanIp: "192.168.50.10", meshIp: "10.42.0.3" },
      u: { lanIp: "192.168.50.11" },
      w: { meshIp: "10.42.0.2" },
    },
    addresses: {
      containerGateway: "172.30.0.1",
      lanIpToward: { "192.168.50.10": "192.168.50.1", "192.168.50.11": "192.168.50.1" },
      hubMeshIp: "10.42.0.1",
    },
  }),
);

const CHAIN = "MB-t1";
/** A host rule as partitionRules gives it: appended to the run's chain for that hook. */
const onHost = (suffix: "I" | "O" | "F", ...rule: string[]) => ["-A", `${CHAIN}-${suffix}`, ...rule, ...DROP];
/** A rule inside a node: appended to the run's chain there. */
const onNode = (...rule: string[]) => ["-A", CHAIN, ...rule, ...DROP];
const cgroup = (name: string) => ["-m", "cgroup", "--path", `/mb-t1-${name}`];

describe("partition rules, cell by cell", () => {
  test("process <-> process: each one's own traffic, told apart by its cgroup, and its connections already open by their ports", () => {
    expect(cgroupSources(plan, ["a"], ["b"])).toEqual(["a", "b"]);
    const rules = partitionRules(plan, ["a"], ["b"], {
      a: {
        cgroup: "/mb-t1-a",
        connections: [
          { localPort: 50000, remoteIp: "127.0.0.1", remotePort: 41002 },
          // Not to b: left alone.
          { localPort: 50001, remoteIp: "127.0.0.1", remotePort: 5432 },
          { localPort: 50002, remoteIp: "10.9.9.9", remotePort: 41002 },
        ],
      },
      b: { cgroup: "/mb-t1-b", connections: [] },
    });
    expect(rules).toEqual({
      host: [
        onHost("O", ...cgroup("a"), "-d", "127.0.0.1", "-p", "tcp", "--dport", "41002"),
        onHost("O", "-p", "tcp", "--sport", "50000", "-d", "127.0.0.1", "--dport", "41002"),
        onHost("O", ...cgroup("b"), "-d", "127.0.0.1", "-p", "tcp", "--dport", "41001"),
      ],
      nodes: [],
    });
  });

  test("process <-> process without a cgroup (not running, or no writable cgroup v2): by destination only", () => {
    expect(partitionRules(plan, ["a"], ["b"], {}).host).toEqual([onHost("O", "-d", "127.0.0.1", "-p", "tcp", "--dport", "41002"), onHost("O", "-d", "127.0.0.1", "-p", "tcp", "--dport", "41001")]);
  });

  test("a process without a port is reached at the host's own address: nothing of its own is dropped, and it joins no cgroup for it", () => {
    expect(cgroupSources(plan, ["a"], ["t"])).toEqual(["t"]);
    expect(partitionRules(plan, ["a"], ["t"], { t: { cgroup: "/mb-t1-t", connections: [] } }).host).toEqual([onHost("O", ...cgroup("t"), "-d", "127.0.0.1", "-p", "tcp", "--dport", "41001")]);
  });

  test("process <-> container: the process's way out (OUTPUT), the container's way to the host's gateway (INPUT)", () => {
    expect(cgroupSources(plan, ["a"], ["c"])).toEqual(["a"]);
    expect(partitionRules(plan, ["a"], ["c"], { a: { cgroup: "/mb-t1-a", connections: [] } })).toEqual({
      host: [onHost("I", "-s", "172.30.0.2", "-d", "172.30.0.1", "-p", "tcp", "--dport", "41001"), onHost("O", ...cgroup("a"), "-d", "172.30.0.2", "-p", "tcp", "--dport", "8080")],
      nodes: [],
    });
  });

  test("container <-> container: routed on the host (FORWARD)", () => {
    const two = makePlan(
      topology(serviceSpec("c", "docker", { port: 8080 }), serviceSpec("d", "docker", { port: 8081 })),
      hostFacts({ ips: { c: { containerIp: "172.30.0.2" }, d: { containerIp: "172.30.0.3" } }, addresses: { containerGateway: "172.30.0.1" } }),
    );
    expect(partitionRules(two, ["c"], ["d"]).host).toEqual([
      onHost("F", "-s", "172.30.0.2", "-d", "172.30.0.3", "-p", "tcp", "--dport", "8081"),
      onHost("F", "-s", "172.30.0.3", "-d", "172.30.0.2", "-p", "tcp", "--dport", "8080"),
    ]);
  });

  test("container <-> LAN node: the container's traffic to all of the node (FORWARD); in the node, the container's published port on the host", () => {
    expect(cgroupSources(plan, ["c"], ["r"])).toEqual([]);
    expect(partitionRules(plan, ["c"], ["r"])).toEqual({
      host: [onHost("F", "-s", "172.30.0.2", "-d", "192.168.50.10")],
      nodes: [{ label: "deploy@192.168.50.10:22", service: "r", commands: [onNode("-d", "192.168.50.1", "-p", "tcp", "--dport", "32768")] }],
    });
  });

  test("process <-> LAN node: the node's port from the process; in the node only the process's port, not the harness's SSH connection", () => {
    expect(partitionRules(plan, ["a"], ["r"], { a: { cgroup: "/mb-t1-a", connections: [] } })).toEqual({
      host: [onHost("O", ...cgroup("a"), "-d", "192.168.50.10", "-p", "tcp", "--dport", "6379")],
      nodes: [{ label: "deploy@192.168.50.10:22", service: "r", commands: [onNode("-d", "192.168.50.1", "-p", "tcp", "--dport", "41001")] }],
    });
  });

  test("a node service without a port: all of its node from a process, but for the node's SSH port", () => {
    expect(partitionRules(plan, ["a"], ["u"], { a: { cgroup: "/mb-t1-a", connections: [] } })).toEqual({
      host: [onHost("O", ...cgroup("a"), "-d", "192.168.50.11", "-p", "tcp", "!", "--dport", "2200"), onHost("O", ...cgroup("a"), "-d", "192.168.50.11", "!", "-p", "tcp")],
      nodes: [{ label: "deploy@192.168.50.11:2200", service: "u", commands: [onNode("-d", "192.168.50.1", "-p", "tcp", "--dport", "41001")] }],
    });
  });

  test("a node whose services have nothing to drop is still listed: its chain is made all the same", () => {
    expect(partitionRules(plan, ["t"], ["u"]).nodes).toEqual([{ label: "deploy@192.168.50.11:2200", service: "u", commands: [] }]);
  });

  test("LAN node <-> WireGuard node: inside each node, every address of the other, both ways", () => {
    expect(cgroupSources(plan, ["r"], ["w"])).toEqual([]);
    expect(partitionRules(plan, ["r"], ["w"])).toEqual({
      host: [],
      nodes: [
        { label: "deploy@192.168.50.10:22", service: "r", commands: [onNode("-d", "10.42.0.2"), onNode("-s", "10.42.0.2")] },
        {
          label: "ubuntu@198.51.100.20:2222",
          service: "w",
          commands: [onNode("-d", "192.168.50.10"), onNode("-s", "192.168.50.10"), onNode("-d", "10.42.0.3"), onNode("-s", "10.42.0.3")],
        },
      ],
    });
  });

  test("services of one node share its chain, and the same rule goes in once", () => {
    expect(partitionRules(plan, ["r", "r2"], ["w"]).nodes).toEqual([
      { label: "deploy@192.168.50.10:22", service: "r", commands: [onNode("-d", "10.42.0.2"), onNode("-s", "10.42.0.2")] },
      {
        label: "ubuntu@198.51.100.20:2222",
        service: "w",
        commands: [onNode("-d", "192.168.50.10"), onNode("-s", "192.168.50.10"), onNode("-d", "10.42.0.3"), onNode("-s", "10.42.0.3")],
      },
    ]);
  });

  test("two services of one node cannot be parted by address: they share it", () => {
    expect(partitionRules(plan, ["r"], ["r2"]).nodes).toEqual([{ label: "deploy@192.168.50.10:22", service: "r", commands: [] }]);
  });

  test("groups on several sides at once: host rules by hook (INPUT, OUTPUT, FORWARD), nodes in the order they are met", () => {
    const rules = partitionRules(plan, ["a", "r"], ["c", "w"]);
    expect(rules.host).toEqual([
      onHost("I", "-s", "172.30.0.2", "-d", "172.30.0.1", "-p", "tcp", "--dport", "41001"),
      onHost("O", "-d", "172.30.0.2", "-p", "tcp", "--dport", "8080"),
      onHost("O", "-d", "10.42.0.2", "-p", "tcp", "--dport", "9000"),
      onHost("F", "-s", "172.30.0.2", "-d", "192.168.50.10"),
    ]);
    expect(rules.nodes.map((n) => [n.label, n.service])).toEqual([
      ["deploy@192.168.50.10:22", "r"],
      ["ubuntu@198.51.100.20:2222", "w"],
    ]);
  });
});

describe("the groups of a partition", () => {
  test.each([
    [[], ["a"], /first group must be a non-empty array/],
    [["a"], [], /second group must be a non-empty array/],
    [["a"], ["nope"], /"nope" is not a service of this topology \(a, b, t, c, r, r2, u, w\)/],
    [["a", "b"], ["b"], /"b" cannot be on both sides/],
  ])("%j | %j is refused", (a, b, message) => {
    expect(thrown(() => checkGroups(plan, a, b), HarnessError)).toMatchObject({ code: "E_CONFIG", message: expect.stringMatching(message) });
  });

  test("are accepted otherwise", () => {
    expect(() => checkGroups(plan, ["a", "c"], ["r", "w"])).not.toThrow();
  });
});

describe("the run's chains, and heal", () => {
  test("are named after the run, within iptables's 28 characters", () => {
    expect(chainName("t1")).toBe("MB-t1");
    expect(chainName("a.b c/d")).toBe("MB-a_b_c_d");
    expect(`${chainName("x".repeat(40))}-F`.length).toBeLessThanOrEqual(28);
  });

  test("on the host: one chain per hook, each jumped to first", () => {
    expect(hostChainSetup("t1")).toEqual([
      ["-N", "MB-t1-I"],
      ["-I", "INPUT", "1", "-j", "MB-t1-I"],
      ["-N", "MB-t1-O"],
      ["-I", "OUTPUT", "1", "-j", "MB-t1-O"],
      ["-N", "MB-t1-F"],
      ["-I", "FORWARD", "1", "-j", "MB-t1-F"],
    ]);
  });

  test("heal on the host: per hook, the jump, then the chain's rules, then the chain; nothing of anyone else", () => {
    expect(hostChainRemoval(CHAIN)).toEqual([
      { chain: "MB-t1-I", unhook: ["-D", "INPUT", "-j", "MB-t1-I"], flush: ["-F", "MB-t1-I"], remove: ["-X", "MB-t1-I"] },
      { chain: "MB-t1-O", unhook: ["-D", "OUTPUT", "-j", "MB-t1-O"], flush: ["-F", "MB-t1-O"], remove: ["-X", "MB-t1-O"] },
      { chain: "MB-t1-F", unhook: ["-D", "FORWARD", "-j", "MB-t1-F"], flush: ["-F", "MB-t1-F"], remove: ["-X", "MB-t1-F"] },
    ]);
  });

  test("on a node: one chain jumped to first from INPUT and OUTPUT; the rules as one script that stops at the first failure", () => {
    expect(nodeScript(nodeChainSetup(CHAIN))).toBe("iptables -w -N MB-t1 && iptables -w -I INPUT 1 -j MB-t1 && iptables -w -I OUTPUT 1 -j MB-t1");
    expect(nodeScript([onNode("-d", "10.42.0.2"), onNode("-s", "10.42.0.2")])).toBe(
      "iptables -w -A MB-t1 -d 10.42.0.2 -m comment --comment meshbed-partition -j DROP && iptables -w -A MB-t1 -s 10.42.0.2 -m comment --comment meshbed-partition -j DROP",
    );
  });

  test("heal on a node: every jump to the run's chain, then the chain; succeeds only when the chain is gone", () => {
    const script = removeNodeChainScript(CHAIN);
    expect(script).toContain("for h in INPUT OUTPUT; do while iptables -w -D $h -j MB-t1 2>/dev/null; do :; done; done");
    expect(script).toContain("iptables -w -F MB-t1 2>/dev/null; iptables -w -X MB-t1 2>/dev/null");
    expect(script.endsWith("! iptables -w -S MB-t1 >/dev/null 2>&1")).toBe(true);
  });
});
