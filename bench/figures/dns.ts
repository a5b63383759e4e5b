/**
 * Names (`network.dns`): how long the run's DNS server takes to answer a caller (median and p99 of
 * 200 queries in a row, over UDP), against a query to a resolver of the host's; and start to healthy
 * of a topology with `dns: true` against the same without. Target: ≤ 1.05 × without.
 *
 * "The host's resolver" is a bare UDP responder on loopback (a fixed answer, no lookup: the floor of
 * any answer over a socket): this machine's own resolver is off the machine, where a benchmark may
 * not send. Set BENCH_DNS_RESOLVER=ip to time a real one too.
 */
import dgram from "node:dgram";
import path from "node:path";
import { fileURLToPath } from "node:url";
import dnsPacket from "dns-packet";
import { Harness } from "../../src/public/index.js";
import { benchRuns, compare } from "../compare.js";

const server = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/http-server.mjs");
const QUERIES = 200;

function query(name: string, id: number): Buffer {
  return dnsPacket.encode({ id, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: "A", class: "IN" }] });
}

/** `QUERIES` queries in a row from one socket; the median and p99 of their round trips, in µs. */
async function timeQueries(host: string, port: number, name: string): Promise<{ p50: number; p99: number }> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const times: number[] = [];
  try {
    for (let i = 0; i < QUERIES; i++) {
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port}`)), 3000);
        socket.once("message", () => {
          clearTimeout(timer);
          resolve();
        });
        socket.send(query(name, i + 1), port, host);
      });
      times.push(performance.now() - t);
    }
  } finally {
    socket.close();
  }
  times.sort((a, b) => a - b);
  // In µs: an answer over loopback takes well under a millisecond.
  return { p50: 1000 * times[Math.floor(times.length / 2)]!, p99: 1000 * times[Math.floor(times.length * 0.99)]! };
}

/** A resolver's floor: answers every query with one fixed A record. */
async function bareResponder(): Promise<{ port: number; close: () => void }> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (message, remote) => {
    const q = dnsPacket.decode(message);
    socket.send(
      dnsPacket.encode({
        id: q.id,
        type: "response",
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions,
        answers: [{ name: q.questions![0]!.name, type: "A", ttl: 5, data: "127.0.0.1" }],
      }),
      remote.port,
      remote.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { port: socket.address().port, close: () => socket.close() };
}

function topology(dns: boolean) {
  return Harness.builder({ network: { dns } })
    .process("db", { binary: process.execPath, args: [server], port: 0, health: { http: "/health" } })
    .process("api", { binary: process.execPath, args: [server], port: 0, dependsOn: ["db"], health: { http: "/health" } })
    .process("web", { binary: process.execPath, args: [server], port: 0, dependsOn: ["api"], health: { http: "/health" } });
}

export async function run() {
  const rows = [];
  const harness = await topology(true).start();
  const responder = await bareResponder();
  try {
    const [ip, port] = harness.envFor("api").HARNESS_DNS!.split(":") as [string, string];
    const sides: Parameters<typeof compare>[0]["sides"] = {
      meshbed: { run: () => timeQueries(ip, Number(port), "db") },
      "bare responder": { run: () => timeQueries("127.0.0.1", responder.port, "db") },
    };
    const real = process.env.BENCH_DNS_RESOLVER;
    if (real) sides["host's resolver"] = { run: () => timeQueries(real, 53, "localhost") };
    rows.push(
      ...(await compare({
        figure: `DNS answer to a caller (${QUERIES} queries in a row, UDP)`,
        baseline: "bare responder",
        runs: benchRuns(7),
        sides,
        notes: {
          meshbed: "the run's server, asked at api's HARNESS_DNS for db: its view, as a process of the run asks",
          "bare responder": "a fixed answer from a bare dgram socket on loopback: the floor of the host's resolver",
        },
        measures: { p50: { figure: "DNS answer to a caller: median of 200", unit: "µs" }, p99: { figure: "DNS answer to a caller: p99 of 200", unit: "µs" } },
      })),
    );
  } finally {
    responder.close();
    await harness.stop();
  }
  const timed = async (dns: boolean) => {
    const t = performance.now();
    const h = await topology(dns).start();
    const ms = performance.now() - t;
    await h.stop();
    return ms;
  };
  rows.push(
    ...(await compare({
      figure: "3 processes (db ← api ← web), start to all healthy, with network.dns",
      baseline: "without dns",
      runs: benchRuns(11),
      targets: { "without dns": "<=1.05" },
      sides: { meshbed: { run: () => timed(true) }, "without dns": { run: () => timed(false) } },
      notes: { meshbed: "network.dns: true (as root: the processes of a view in one mount namespace of their own)", "without dns": "the same topology, network.dns off" },
    })),
  );
  return rows;
}
