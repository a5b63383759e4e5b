/**
 * The WireGuard mesh, on lab nodes (network namespaces with real sshd and wireguard-go):
 * - start to every peer's first handshake, for 1, 4 and 8 WAN nodes: from the call to `start()`
 *   to the last of the hub's first handshakes (the mesh is up: hub interface, every node's
 *   interface over SSH, both ends configured). Against 1 node. No target.
 * - TCP throughput from a WAN node to the harness host: 64 MiB through the mesh (wireguard-go on
 *   both ends) against the same transfer over the plain veth path, as a time ratio. No target.
 */
import net from "node:net";
import { Harness } from "../../src/public/index.js";
import { Lab } from "../../src/public/lab.js";
import { type ComparisonRow, benchRuns, compare, round } from "../compare.js";

const MIB = 64;
type AnyBuilder = { wireguard(name: string, o: object): AnyBuilder; start(): Promise<Harness> };

/** A TCP sink on the harness host: counts bytes; resolves each connection's total when it ends. */
function sink(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.resume());
  return new Promise((resolve) => server.listen(0, "0.0.0.0", () => resolve(server)));
}

/** Sends `MIB` MiB from inside the node to `host:port`; resolves the time it took, measured in the node. */
async function sendFrom(lab: Lab, node: string, host: string, port: number): Promise<number> {
  const script = `
const net = require("node:net");
const chunk = Buffer.alloc(1 << 20, 7);
const t0 = performance.now();
const s = net.connect(${port}, ${JSON.stringify(host)}, () => {
  let left = ${MIB};
  const write = () => { while (left > 0) { left--; if (!s.write(chunk)) return s.once("drain", write); } s.end(); };
  write();
});
s.on("close", () => { console.log(performance.now() - t0); process.exit(0); });
s.on("error", (e) => { console.error(e.message); process.exit(1); });`;
  const result = await lab.exec(node, [process.execPath, "-e", script]);
  if (result.code !== 0) throw new Error(`transfer from ${node} to ${host}:${port} failed: ${result.stderr}`);
  return Number(result.stdout.trim());
}

export async function run(): Promise<ComparisonRow[]> {
  const lab = await Lab.create({ nodes: Array.from({ length: 8 }, (_, i) => ({ name: `w${i}`, network: "wan" as const })) });
  const rows: ComparisonRow[] = [];
  try {
    const handshakes = async (n: number): Promise<number> => {
      let builder = Harness.builder() as unknown as AnyBuilder;
      for (let i = 0; i < n; i++) {
        const node = lab.node(`w${i}`);
        builder = builder.wireguard(`s${i}`, { host: node.host, user: node.user, ssh: node.ssh, binary: "sleep", args: ["600"] });
      }
      const t0 = Date.now();
      const harness = await builder.start();
      const peers = await harness.mesh.peers();
      const last = Math.max(...peers.map((p) => p.lastHandshake));
      await harness.stop();
      if (peers.some((p) => p.lastHandshake === 0)) throw new Error("a peer had no handshake");
      return last - t0;
    };
    rows.push(
      ...(await compare({
        figure: "Mesh: start to every peer's first handshake",
        baseline: "1 node",
        runs: benchRuns(5),
        sides: {
          "1 node": { run: () => handshakes(1) },
          "4 nodes": { run: () => handshakes(4) },
          "8 nodes": { run: () => handshakes(8) },
        },
        notes: {
          "1 node": "start() of 1 wireguard service (a `sleep`) to the hub's last first handshake; ms resolution of wireguard-go's handshake time",
          "4 nodes": "the same with 4 WAN nodes (one SSH connection and one wireguard-go each, in parallel)",
          "8 nodes": "the same with 8 WAN nodes",
        },
      })),
    );

    const server = await sink();
    const port = (server.address() as net.AddressInfo).port;
    const node = lab.node("w0");
    const harness = await (Harness.builder() as unknown as AnyBuilder).wireguard("sender", { host: node.host, user: node.user, ssh: node.ssh, binary: "sleep", args: ["600"] }).start();
    try {
      const throughput = await compare({
        figure: `Mesh: TCP transfer of ${MIB} MiB from a WAN node to the harness host`,
        baseline: "veth path",
        runs: benchRuns(5),
        sides: {
          meshbed: { run: () => sendFrom(lab, "w0", harness.mesh.hubIp, port) },
          "veth path": { run: () => sendFrom(lab, "w0", node.hostIp, port) },
        },
        notes: {
          meshbed: "through the mesh: node's wireguard-go → hub's wireguard-go (to the hub's mesh address)",
          "veth path": "the same transfer to the host's address on the plain routed veth path",
        },
      });
      for (const row of throughput) row.note = `${row.note}; ${round(MIB / (row.medianMs / 1000))} MiB/s; throughput ratio ${round(1 / row.ratio, 3)}`;
      rows.push(...throughput);
    } finally {
      await harness.stop();
      server.close();
    }
  } finally {
    await lab.destroy();
  }
  return rows;
}
