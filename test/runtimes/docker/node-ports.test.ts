import { describe, expect, test } from "vitest";
import { chooseNodePorts, parseNodePorts } from "../../../src/runtimes/docker/node-ports.js";
import { Harness } from "../../../src/public/index.js";

// The pure half of a node's port choice (the other half reads /proc over SSH: node-containers.test.ts).
const TABLE = `32768\t60999
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`;

const spec = Harness.builder()
  .remoteLan("a", { host: "10.9.0.2", docker: { image: "x" }, port: 8080 })
  .remoteLan("b", { host: "10.9.0.2", docker: { image: "x", ports: [8081, "9000:9001"] }, port: 8081 })
  .remoteLan("c", { host: "10.9.0.2", docker: { image: "x", ports: [7000] }, port: 5432 })
  .toSpec();
const svc = (name: string) => spec.services.find((s) => s.name === name)!;
const request = (name: string) => {
  const s = svc(name);
  return { service: s, port: s.port, ports: (s.options as { docker: { ports: { host: number | undefined; container: number }[] } }).docker.ports };
};

describe("where a container publishes its ports on its node", () => {
  test("reads the listeners of IPv4 and IPv6 (state 0A only) and the node's ephemeral range", () => {
    const table = parseNodePorts(TABLE);
    expect([...table.listening].sort((x, y) => x - y)).toEqual([5432, 8080]);
    expect(table.range).toEqual([32768, 60999]);
  });

  test("its own number when free there, else a free port of the node's range; a fixed node port is kept", () => {
    const table = parseNodePorts(TABLE);
    const taken = new Set<number>([8081]);
    const chosen = chooseNodePorts([request("a"), request("b"), request("c")], "root@10.9.0.2:22", table, taken, () => 0);
    // 8080 listens on the node, 8081 is another service's of the run, 5432 listens (IPv6): each moves into the range.
    expect(chosen.get("a")).toEqual([{ host: 32768, container: 8080 }]);
    expect(chosen.get("b")).toEqual([
      { host: 32769, container: 8081 },
      { host: 9000, container: 9001 },
    ]);
    expect(chosen.get("c")).toEqual([
      { host: 32770, container: 5432 },
      { host: 7000, container: 7000 },
    ]);
    expect([...taken].sort((x, y) => x - y)).toEqual([7000, 8081, 9000, 32768, 32769, 32770]);
  });

  test("a fixed node port that is taken is E_PORT_IN_USE naming the service, the node and what to do", () => {
    const table = parseNodePorts(TABLE);
    const s = Harness.builder()
      .remoteLan("db", { host: "10.9.0.2", docker: { image: "x", ports: ["8080:5432"] }, port: 5432 })
      .toSpec().services[0]!;
    const docker = (s.options as { docker: { ports: { host: number | undefined; container: number }[] } }).docker;
    expect(() => chooseNodePorts([{ service: s, port: 5432, ports: docker.ports }], "root@10.9.0.2:22", table, new Set())).toThrow(
      /Port 8080 that service "db" publishes on node root@10.9.0.2:22 .* stop what holds it on the node, or publish it on another node port/,
    );
  });

  test("`port: 0` is a free port of the node, inside the container too", () => {
    const table = parseNodePorts(TABLE);
    const s = Harness.builder()
      .remoteLan("z", { host: "10.9.0.2", docker: { image: "x" }, port: 0 })
      .toSpec().services[0]!;
    expect(chooseNodePorts([{ service: s, port: 0, ports: [] }], "n", table, new Set(), () => 0.5).get("z")).toEqual([{ host: 46884, container: 46884 }]);
  });
});
