/**
 * The edge proxy with no toxic (src/faults/edge-proxy.ts), against a direct connection on loopback:
 * the time to move 256 MiB caller → target (target: ≤ 1.1 × direct), and the round trip of a 64-byte
 * request/response (target: ≤ 0.2 ms added). The caller and the target run in a child process of
 * their own (this file with `--child`), the proxy in this one, so that the proxy's process does
 * not also do the sending and receiving; the direct side is the same child talking to itself.
 *
 * Part of `npm run bench` (`npm run bench -- edge-proxy`); alone, printing its rows and writing
 * nothing: `npx tsx bench/edge-proxy.ts`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeProxy } from "../src/faults/edge-proxy.js";
import { freePort } from "../src/host/ports.js";
import { type ComparisonRow, type Side, compare, round } from "./compare.js";
import { probeUntilOpen } from "./probe.js";

const HOST = "127.0.0.1";
const THROUGHPUT_BYTES = 256 * 1024 * 1024;
const ROUND_TRIPS = 2_000;
const MESSAGE_BYTES = 64;
const self = fileURLToPath(import.meta.url);

type Ask = { kind: "throughput"; port: number; bytes: number } | { kind: "rtt"; port: number; count: number };
type Request = Ask & { id: number };
/** socat, a proxy in C, where it is installed (Debian's `socat`): what a proxy outside Node costs here. */
const hasSocat = (() => {
  try {
    execFileSync("socat", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
type Reply = { id: number; value: number };

export async function run(): Promise<ComparisonRow[]> {
  const child = spawn(process.execPath, ["--import", "tsx", self, "--child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const proxies: EdgeProxy[] = [];
  const servers: net.Server[] = [];
  const socats: ChildProcess[] = [];
  try {
    const [ports] = (await once(child, "message")) as [{ sink: number; echo: number }];
    const toSink = await EdgeProxy.listen({ host: HOST, port: 0, upstream: { host: HOST, port: ports.sink }, name: "bench→sink" });
    const toEcho = await EdgeProxy.listen({ host: HOST, port: 0, upstream: { host: HOST, port: ports.echo }, name: "bench→echo" });
    proxies.push(toSink, toEcho);
    const pipeToSink = await pipeProxy(ports.sink);
    const pipeToEcho = await pipeProxy(ports.echo);
    servers.push(pipeToSink.server, pipeToEcho.server);
    const socatToSink = hasSocat ? await socat(ports.sink, socats) : undefined;
    const socatToEcho = hasSocat ? await socat(ports.echo, socats) : undefined;
    const ask = askChild(child);

    // A proxied run also reports the CPU time this process (the proxy's) spent: the proxy's own cost,
    // which the load of a shared machine changes far less than it changes the elapsed times.
    const through = (port: number, proxied: boolean) => async (): Promise<Record<string, number>> => {
      const cpu0 = process.cpuUsage();
      const time = await ask({ kind: "throughput", port, bytes: THROUGHPUT_BYTES });
      const cpu = process.cpuUsage(cpu0);
      return proxied ? { time, cpu: (cpu.user + cpu.system) / 1000 } : { time };
    };
    const throughput = await compare({
      figure: "edge proxy: 256 MiB caller → target",
      baseline: "direct",
      sides: {
        meshbed: { run: through(toSink.port, true) },
        direct: { run: through(ports.sink, false) },
        "bare pipe": { run: through(pipeToSink.port, true) },
        ...(socatToSink !== undefined && { socat: { run: through(socatToSink, false) } }),
      },
      measures: {
        time: { figure: "edge proxy: 256 MiB caller → target on loopback", baseline: "direct", targets: { direct: "<=1.1" } },
        cpu: { figure: "edge proxy: CPU time of the proxy's process per 256 MiB", baseline: "bare pipe" },
      },
      notes: {
        meshbed: "through the idle proxy, in another process than caller and target",
        direct: "the same caller and target, connected directly",
        "bare pipe": "through a bare Node.js proxy (socket.pipe both ways) in the proxy's process: the floor of a proxy in Node (no target)",
        socat: "through socat (C, a process per connection, 64 KiB buffer): a proxy outside Node (no target)",
      },
    });

    // Each run: the mean of 2,000 round trips on one connection, in µs; runs kept to pair them up.
    const times: Record<string, number[]> = {};
    const rtt = (side: string, port: number): Side => ({
      async run() {
        const us = await ask({ kind: "rtt", port, count: ROUND_TRIPS });
        (times[side] ??= []).push(us);
        return us;
      },
    });
    const roundTrip = await compare({
      figure: `edge proxy: round trip of a ${MESSAGE_BYTES}-byte request/response`,
      baseline: "direct",
      unit: "µs",
      sides: {
        meshbed: rtt("meshbed", toEcho.port),
        direct: rtt("direct", ports.echo),
        "bare pipe": rtt("bare pipe", pipeToEcho.port),
        ...(socatToEcho !== undefined && { socat: rtt("socat", socatToEcho) }),
      },
      notes: {
        meshbed: `mean of ${ROUND_TRIPS} on one connection through the proxy`,
        direct: `mean of ${ROUND_TRIPS}, direct`,
        "bare pipe": `mean of ${ROUND_TRIPS} through the bare pipe proxy (no target)`,
        socat: `mean of ${ROUND_TRIPS} through socat (no target)`,
      },
    });
    // The runs were interleaved (proxy, direct, proxy, …) after one warm-up: each pair met the same load.
    const added = times.meshbed!.slice(1).map((us, i) => us - times.direct![i + 1]!);
    const sorted = [...added].sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    const direct = roundTrip.find((r) => r.side === "direct")!;
    const addedRow: ComparisonRow = {
      figure: "edge proxy: latency added per round trip",
      side: "meshbed",
      runs: added.length,
      medianMs: round(median),
      minMs: round(sorted[0]!),
      maxMs: round(sorted.at(-1)!),
      ratio: round(median / direct.medianMs, 3),
      baseline: "direct",
      target: `vs direct (added µs): ${round(median)} (target <= 200)`,
      met: median <= 200,
      note: "proxied minus direct, per pair of interleaved runs",
      unit: "µs",
    };
    return [...throughput, ...roundTrip, addedRow];
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    for (const server of servers) server.close();
    for (const p of socats) p.kill("SIGTERM");
    child.kill("SIGTERM");
  }
}

/** The least a proxy in Node does: accept, connect, pipe both ways (and destroy both on an error). */
async function pipeProxy(upstreamPort: number): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: HOST, port: upstreamPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.on("error", () => b.destroy());
      a.on("close", () => b.destroy());
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** socat forwarding a port of its own to `upstreamPort`, a child (kept in `started`) per connection. */
async function socat(upstreamPort: number, started: ChildProcess[]): Promise<number> {
  const port = await freePort();
  const child = spawn("socat", ["-b", "65536", `TCP-LISTEN:${port},bind=${HOST},reuseaddr,fork`, `TCP:${HOST}:${upstreamPort},nodelay`], { stdio: "ignore" });
  started.push(child);
  await probeUntilOpen(HOST, port);
  return port;
}

/** Sends one request to the child and resolves with its reply's value. */
function askChild(child: ChildProcess): (request: Ask) => Promise<number> {
  let next = 0;
  const waiting = new Map<number, (value: number) => void>();
  child.on("message", (reply: Reply) => waiting.get(reply.id)?.(reply.value));
  return (request) =>
    new Promise((resolve, reject) => {
      const id = next++;
      const onExit = () => reject(new Error(`the bench child exited during a ${request.kind} run`));
      child.once("exit", onExit);
      waiting.set(id, (value) => {
        waiting.delete(id);
        child.off("exit", onExit);
        resolve(value);
      });
      child.send({ ...request, id });
    });
}

/** The child: a sink and an echo target, and the caller that measures against either address. */
async function child(): Promise<void> {
  let expected = 0;
  let received = 0;
  let done: (() => void) | undefined;
  const sink = net.createServer((socket) => {
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received >= expected) done?.();
    });
    socket.on("error", () => {});
  });
  const echo = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  await Promise.all([sink, echo].map((server) => new Promise<void>((resolve) => server.listen(0, HOST, resolve))));

  async function throughput(port: number, bytes: number): Promise<number> {
    expected = bytes;
    received = 0;
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    const block = Buffer.alloc(1024 * 1024, 7);
    const t0 = performance.now();
    const socket = net.connect({ host: HOST, port });
    socket.on("error", () => {});
    for (let sent = 0; sent < bytes; sent += block.length) {
      if (!socket.write(block)) await once(socket, "drain");
    }
    await all;
    const ms = performance.now() - t0;
    socket.destroy();
    return ms;
  }

  async function rtt(port: number, count: number): Promise<number> {
    const socket = net.connect({ host: HOST, port });
    socket.setNoDelay(true);
    await once(socket, "connect");
    const message = Buffer.alloc(MESSAGE_BYTES, 1);
    let pending = 0;
    let wake: (() => void) | undefined;
    socket.on("data", (chunk: Buffer) => {
      pending -= chunk.length;
      if (pending <= 0) wake?.();
    });
    const once1 = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        pending = MESSAGE_BYTES;
        socket.write(message);
      });
    for (let i = 0; i < 100; i++) await once1(); // warm the path up
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await once1();
    const us = ((performance.now() - t0) * 1000) / count;
    socket.destroy();
    return us;
  }

  process.on("message", async (request: Request) => {
    const value = request.kind === "throughput" ? await throughput(request.port, request.bytes) : await rtt(request.port, request.count);
    process.send!({ id: request.id, value } satisfies Reply);
  });
  process.on("disconnect", () => process.exit(0));
  process.send!({ sink: (sink.address() as net.AddressInfo).port, echo: (echo.address() as net.AddressInfo).port });
}

if (process.argv.includes("--child")) {
  await child();
} else if (path.resolve(process.argv[1] ?? "") === self) {
  for (const row of await run()) {
    console.log(
      `${row.figure} | ${row.side.padEnd(8)} median ${row.medianMs} ${row.unit ?? "ms"} (min ${row.minMs}, max ${row.maxMs}) ratio ${row.ratio}${row.target ? `  ${row.target} ${row.met ? "MET" : "NOT MET"}` : ""}`,
    );
  }
}
