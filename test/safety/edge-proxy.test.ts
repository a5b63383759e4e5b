/**
 * The edge proxy (src/faults/edge-proxy.ts) on real sockets, on 127.0.0.1 only: a caller connects to
 * the proxy, the proxy to a target of the test's own; each toxic is checked by what the caller and
 * the target see, with tolerances wide enough for a loaded 2-core machine and bounds that still fail
 * when the toxic does not act (a lower bound is the toxic's own delay, never less).
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EdgeProxy, type Toxic } from "../../src/faults/edge-proxy.js";
import { HarnessError } from "../../src/errors.js";
import { resetSocket } from "../../src/faults/reset-socket.js";

const HOST = "127.0.0.1";

/** What a target of the test saw on one accepted connection. */
interface Accepted {
  socket: net.Socket;
  received: Buffer[];
  /** performance.now() of each chunk received. */
  arrivals: number[];
  ended: boolean;
  error: NodeJS.ErrnoException | undefined;
  closed: boolean;
}

interface Target {
  port: number;
  accepted: Accepted[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A target on 127.0.0.1. `echo`: sends back what it receives and ends when the caller ends;
 * `send`: writes that buffer when a connection opens, then ends; `silent`: only records.
 */
async function target(mode: { echo: true } | { send: Buffer } | { silent: true }): Promise<Target> {
  const accepted: Accepted[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const seen: Accepted = { socket, received: [], arrivals: [], ended: false, error: undefined, closed: false };
    accepted.push(seen);
    socket.on("error", (error) => {
      seen.error = error;
    });
    socket.on("close", () => {
      seen.closed = true;
      sockets.delete(socket);
    });
    socket.on("data", (chunk: Buffer) => {
      seen.received.push(chunk);
      seen.arrivals.push(performance.now());
    });
    socket.on("end", () => {
      seen.ended = true;
    });
    if ("echo" in mode) socket.pipe(socket);
    else if ("send" in mode) socket.end(mode.send);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  cleanups.push(close);
  return { port: (server.address() as net.AddressInfo).port, accepted, close };
}

async function proxyTo(port: number, name = "caller→target"): Promise<EdgeProxy> {
  const proxy = await EdgeProxy.listen({ host: HOST, port: 0, upstream: { host: HOST, port }, name });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A caller's connection, with everything it received and how it ended. */
class Caller {
  readonly socket: net.Socket;
  readonly chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  closedAt = 0;
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    // As most callers do, it ends its side when the other ends (allowHalfOpen: false).
    this.socket = net.connect({ host: HOST, port });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      this.#wake();
    });
    this.socket.on("end", () => {
      this.ended = true;
      this.#wake();
    });
    this.socket.on("error", (error) => {
      this.error = error;
      this.#wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.#wake();
    });
    cleanups.push(() => this.socket.destroy());
  }

  static async open(port: number): Promise<Caller> {
    const caller = new Caller(port);
    await waitFor(() => caller.socket.readyState === "open" || caller.closed, "the caller to connect");
    return caller;
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves when `condition` holds, checked on every event of the socket; fails after `ms`. */
  until(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what} (received ${this.bytes} bytes, ended ${this.ended}, error ${this.error?.code})`)), ms);
      const check = () => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Writes `message` and waits until as many more bytes came back (an echo): the round trip in ms. */
  async roundTrip(message = Buffer.from("ping\n")): Promise<number> {
    const want = this.bytes + message.length;
    const t0 = performance.now();
    this.socket.write(message);
    await this.until(() => this.bytes >= want, "the echo");
    return performance.now() - t0;
  }
}

/** Polls `condition` every 10 ms until it holds; fails after `ms`. */
async function waitFor(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function roundTrips(caller: Caller, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await caller.roundTrip());
  return times;
}

describe("the edge proxy with no toxic", () => {
  it("forwards 8 MiB each way byte-exact and passes on the caller's half-close and then the target's", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    expect(proxy.host).toBe(HOST);
    expect(proxy.port).toBeGreaterThan(0);
    const caller = await Caller.open(proxy.port);
    const data = randomBytes(8 * 1024 * 1024);
    caller.socket.end(data);
    await caller.until(() => caller.ended, "the echo of 8 MiB and the target's FIN", 60_000);
    expect(caller.bytes).toBe(data.length);
    expect(caller.received().equals(data)).toBe(true);
    const seen = echo.accepted[0]!;
    expect(seen.ended).toBe(true);
    expect(Buffer.concat(seen.received).equals(data)).toBe(true);
    await caller.until(() => caller.closed, "the caller's socket to close");
    expect(caller.error).toBeUndefined();
    await waitFor(() => proxy.connectionCount === 0, "the proxy to let go of the connection");
  });

  it("keeps a half-closed connection open the other way", async () => {
    const silent = await target({ silent: true });
    const proxy = await proxyTo(silent.port);
    const caller = await Caller.open(proxy.port);
    caller.socket.end("last words");
    await waitFor(() => silent.accepted[0]?.ended === true, "the target to see the caller's FIN");
    expect(Buffer.concat(silent.accepted[0]!.received).toString()).toBe("last words");
    // The target may still answer: the caller's read half is open.
    silent.accepted[0]!.socket.end("reply after your FIN");
    await caller.until(() => caller.ended, "the reply and the target's FIN");
    expect(caller.received().toString()).toBe("reply after your FIN");
    expect(caller.error).toBeUndefined();
  });
});

describe("latency", () => {
  it("on downstream adds its delay to each round trip, on an open connection and a new one, and nothing to upstream", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    const open = await Caller.open(proxy.port);
    const before = median(await roundTrips(open, 5));
    expect(before).toBeLessThan(100);

    proxy.add("downstream", { type: "latency", latencyMs: 200 });
    const delayed = await roundTrips(open, 5);
    for (const ms of delayed) expect(ms).toBeGreaterThanOrEqual(199);
    expect(median(delayed)).toBeLessThanOrEqual(240 + before);

    const fresh = await Caller.open(proxy.port);
    const rtt = await fresh.roundTrip();
    expect(rtt).toBeGreaterThanOrEqual(199);
    expect(rtt).toBeLessThanOrEqual(400);

    // The caller → target way is not delayed: the target has each request well before 200 ms.
    const seen = echo.accepted[1]!;
    const t0 = performance.now();
    fresh.socket.write("one way\n");
    await waitFor(() => seen.arrivals.length >= 2, "the request at the target");
    expect(seen.arrivals[1]! - t0).toBeLessThan(100);
  });

  it("with jitter holds each chunk within latency ± jitter, varies, and keeps the order", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    proxy.add("downstream", { type: "latency", latencyMs: 100, jitterMs: 50 });
    const caller = await Caller.open(proxy.port);
    const times = await roundTrips(caller, 20);
    for (const ms of times) {
      expect(ms).toBeGreaterThanOrEqual(49);
      expect(ms).toBeLessThanOrEqual(150 + 60);
    }
    // 20 draws from 50–150 ms all within 15 ms of each other: about 1 in 10^14.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(15);

    // 60 chunks 3 ms apart, each with its own jitter, arrive in the order sent.
    const chunks = Array.from({ length: 60 }, (_, i) => Buffer.from(`chunk ${String(i).padStart(3, "0")};`));
    const start = caller.bytes;
    for (const chunk of chunks) {
      caller.socket.write(chunk);
      await sleep(3);
    }
    const expected = Buffer.concat(chunks);
    await caller.until(() => caller.bytes >= start + expected.length, "every chunk's echo");
    expect(caller.received().subarray(start).toString()).toBe(expected.toString());
  });

  it("two latencies on one stream add up, and removing them restores the round trip", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    const a = proxy.add("downstream", { type: "latency", latencyMs: 100 });
    const b = proxy.add("downstream", { type: "latency", latencyMs: 100 });
    expect(proxy.toxics().map((t) => t.id)).toEqual([a.id, b.id]);
    expect(a.id).not.toBe(b.id);
    const caller = await Caller.open(proxy.port);
    const rtt = await caller.roundTrip();
    expect(rtt).toBeGreaterThanOrEqual(199);
    expect(rtt).toBeLessThanOrEqual(400);
    expect(proxy.remove(a.id)).toBe(true);
    expect(proxy.remove(a.id)).toBe(false);
    const one = await caller.roundTrip();
    expect(one).toBeGreaterThanOrEqual(99);
    expect(one).toBeLessThan(199);
    proxy.clear();
    expect(proxy.toxics()).toEqual([]);
    expect(median(await roundTrips(caller, 5))).toBeLessThan(50);
  });

  it("removed while it holds a chunk, lets the chunk through at once", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    const slow = proxy.add("downstream", { type: "latency", latencyMs: 5_000 });
    const caller = await Caller.open(proxy.port);
    const t0 = performance.now();
    caller.socket.write("held\n");
    await waitFor(() => echo.accepted[0]?.received.length === 1, "the request at the target");
    proxy.remove(slow.id);
    await caller.until(() => caller.bytes === 5, "the held echo");
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(caller.received().toString()).toBe("held\n");
  });
});

describe("bandwidth", () => {
  it("at 64 KiB/s takes about 4 s for 256 KiB, byte-exact", async () => {
    const data = randomBytes(256 * 1024);
    const sender = await target({ send: data });
    const proxy = await proxyTo(sender.port);
    proxy.add("downstream", { type: "bandwidth", bytesPerSecond: 64 * 1024 });
    const caller = new Caller(proxy.port);
    const t0 = performance.now();
    await caller.until(() => caller.ended, "256 KiB and the end", 30_000);
    const seconds = (performance.now() - t0) / 1000;
    expect(caller.received().equals(data)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual(3.2);
    expect(seconds).toBeLessThanOrEqual(4.8);
    // Smooth: at no point did the caller get far ahead of the rate (one 50 ms burst of slack, plus the first slice).
    expect(caller.chunks.length).toBeGreaterThan(100);
  });

  it("slows the sender: a caller that respects backpressure cannot hand off much more than the limit lets through", async () => {
    const silent = await target({ silent: true });
    const proxy = await proxyTo(silent.port);
    proxy.add("upstream", { type: "bandwidth", bytesPerSecond: 256 * 1024 });
    const caller = await Caller.open(proxy.port);
    const block = Buffer.alloc(64 * 1024, 1);
    let handedOff = 0;
    const deadline = performance.now() + 2_000;
    while (performance.now() < deadline && handedOff < 64 * 1024 * 1024) {
      handedOff += block.length;
      if (!caller.socket.write(block)) await Promise.race([new Promise((resolve) => caller.socket.once("drain", resolve)), sleep(deadline - performance.now())]);
    }
    const received = silent.accepted[0]!.received.reduce((n, b) => n + b.length, 0);
    // In 2 s: about 512 KiB through, the proxy's 1 MiB, and what the kernel's socket buffers hold. Unlimited, it is 64 MiB.
    expect(received).toBeLessThan(1024 * 1024);
    expect(handedOff).toBeLessThan(16 * 1024 * 1024);
  });
});

describe("timeout", () => {
  it("with no timeoutMs stops the data but not the connection; removed, the held data flows on", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    const caller = await Caller.open(proxy.port);
    expect(await caller.roundTrip()).toBeLessThan(1_000);
    const stop = proxy.add("upstream", { type: "timeout" });
    caller.socket.write("are you there?\n");
    // The caller's own timeout: nothing comes back within it, and nothing closes.
    await expect(caller.until(() => caller.bytes > 5, "an answer", 700)).rejects.toThrow(/timed out/);
    expect(echo.accepted[0]!.received.length).toBe(1);
    expect(caller.closed).toBe(false);
    expect(proxy.connectionCount).toBe(1);
    proxy.remove(stop.id);
    await caller.until(() => caller.bytes === 5 + 15, "the held request's echo");
    expect(caller.received().subarray(5).toString()).toBe("are you there?\n");
  });

  it("with timeoutMs closes the connection after it, with no data through", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    proxy.add("downstream", { type: "timeout", timeoutMs: 300 });
    const t0 = performance.now();
    const caller = await Caller.open(proxy.port);
    caller.socket.write("hello\n");
    await caller.until(() => caller.ended || caller.closed, "the proxy to close the connection");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(caller.bytes).toBe(0);
    await caller.until(() => caller.closed, "the caller's socket to close");
    await waitFor(() => echo.accepted[0]?.closed === true, "the target's socket to close");
    await waitFor(() => proxy.connectionCount === 0, "the proxy to let go of the connection");
  });
});

describe("reset_peer", () => {
  it("resets both sides of a connection opened before it, and every new one", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    const open = await Caller.open(proxy.port);
    await open.roundTrip();
    proxy.add("upstream", { type: "reset_peer" });
    await open.until(() => open.closed, "the reset");
    expect(open.error?.code).toBe("ECONNRESET");
    await waitFor(() => echo.accepted[0]!.closed, "the target's side to close");
    expect(echo.accepted[0]!.error?.code).toBe("ECONNRESET");

    const fresh = new Caller(proxy.port);
    fresh.socket.write("hello\n");
    await fresh.until(() => fresh.closed, "the reset of a new connection");
    expect(fresh.error?.code).toBe("ECONNRESET");
    expect(fresh.bytes).toBe(0);
    await waitFor(() => proxy.connectionCount === 0, "the proxy to let go of the connections");
  });

  it("with timeoutMs resets after it", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    proxy.add("downstream", { type: "reset_peer", timeoutMs: 300 });
    const t0 = performance.now();
    const caller = new Caller(proxy.port);
    caller.socket.write("hello\n");
    await caller.until(() => caller.closed, "the reset");
    expect(caller.error?.code).toBe("ECONNRESET");
    expect(caller.closedAt - t0).toBeGreaterThanOrEqual(290);
    expect(caller.closedAt - t0).toBeLessThan(2_000);
    expect(caller.bytes).toBe(0);
  });
});

describe("slicer", () => {
  it("delivers every byte, in many small pieces", async () => {
    const data = randomBytes(16 * 1024);
    const sender = await target({ send: data });
    const proxy = await proxyTo(sender.port);
    proxy.add("downstream", { type: "slicer", averageSize: 100, sizeVariation: 30, delayMs: 2 });
    const caller = new Caller(proxy.port);
    await caller.until(() => caller.ended, "16 KiB and the end");
    expect(caller.received().equals(data)).toBe(true);
    // At least 127 pieces of at most 130 bytes, 2 ms apart: even a busy receiver sees many apart.
    expect(caller.chunks.length).toBeGreaterThanOrEqual(40);
    expect(Math.max(...caller.chunks.map((c) => c.length))).toBeLessThan(16 * 1024);
  });
});

describe("failures and closing", () => {
  it("resets the caller when the target cannot be reached, at once", async () => {
    const gone = await target({ silent: true });
    await gone.close();
    const proxy = await proxyTo(gone.port);
    const t0 = performance.now();
    const caller = new Caller(proxy.port);
    await caller.until(() => caller.closed, "the caller to be let go");
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(caller.error?.code).toBe("ECONNRESET");
    await waitFor(() => proxy.connectionCount === 0, "the proxy to let go of the connection");
  });

  it("passes a reset on each way and stays up", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    proxy.add("downstream", { type: "latency", latencyMs: 50 });
    // The caller resets in the middle of a transfer: the target is reset too.
    const first = await Caller.open(proxy.port);
    first.socket.write(randomBytes(1024 * 1024));
    await waitFor(() => (echo.accepted[0]?.received.length ?? 0) > 0, "data at the target");
    first.socket.resetAndDestroy();
    await waitFor(() => echo.accepted[0]!.closed, "the target's side to close");
    expect(echo.accepted[0]!.error?.code).toBe("ECONNRESET");
    // The target resets: the caller is reset.
    const second = await Caller.open(proxy.port);
    await second.roundTrip();
    echo.accepted[1]!.socket.resetAndDestroy();
    await second.until(() => second.closed, "the caller to be reset");
    expect(second.error?.code).toBe("ECONNRESET");
    await waitFor(() => proxy.connectionCount === 0, "the proxy to let go of both");
    // And it still forwards.
    const third = await Caller.open(proxy.port);
    expect(await third.roundTrip()).toBeGreaterThanOrEqual(49);
  });

  it("resets a socket whose FIN is still on its way, and its close comes (a reset libuv refuses then left it open)", async () => {
    const silent = await target({ silent: true });
    const socket = net.connect({ host: HOST, port: silent.port });
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    let closed = false;
    socket.once("close", () => {
      closed = true;
    });
    socket.end();
    // In the same tick as the end(): Node's own resetAndDestroy() fails with EINVAL here and never closes.
    resetSocket(socket);
    await waitFor(() => closed, "the reset socket's close");
    // The FIN went first: the target sees the end (a reset after it shows only when the target writes).
    await waitFor(() => silent.accepted[0]?.ended === true, "the target to see the end");
  });

  it("close() destroys every connection, frees the port, and runs once", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port);
    proxy.add("upstream", { type: "timeout" });
    const callers = await Promise.all([1, 2, 3].map(() => Caller.open(proxy.port)));
    await waitFor(() => proxy.connectionCount === 3 && echo.accepted.length === 3, "three connections");
    const port = proxy.port;
    await Promise.all([proxy.close(), proxy.close()]);
    expect(proxy.connectionCount).toBe(0);
    for (const caller of callers) await caller.until(() => caller.closed, "the caller's socket to close");
    await waitFor(() => echo.accepted.every((a) => a.closed), "the target's sockets to close");
    await proxy.close();
    // The port is free: something else can listen on it at once.
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once("error", reject);
      again.listen(port, HOST, resolve);
    });
    await new Promise((resolve) => again.close(resolve));
    expect(() => proxy.add("upstream", { type: "timeout" })).toThrow(expect.objectContaining({ code: "E_NOT_RUNNING" }));
  });

  it("add() refuses bad toxics with E_CONFIG and changes nothing", async () => {
    const echo = await target({ echo: true });
    const proxy = await proxyTo(echo.port, "api→db");
    const bad: [string, unknown][] = [
      ["upstream", { type: "latency", latencyMs: -5 }],
      ["upstream", { type: "bandwidth", bytesPerSecond: 0 }],
      ["downstream", { type: "slicer", averageSize: 0 }],
      ["downstream", { type: "timeout", timeoutMs: Number.POSITIVE_INFINITY }],
      ["both", { type: "latency", latencyMs: 5 }],
      ["upstream", { type: "limit_data", bytes: 5 }],
    ];
    for (const [stream, toxic] of bad) {
      let error: unknown;
      try {
        proxy.add(stream as "upstream", toxic as Toxic);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HarnessError);
      expect((error as HarnessError).code).toBe("E_CONFIG");
      expect((error as HarnessError).message).toContain('edge "api→db"');
    }
    expect(proxy.toxics()).toEqual([]);
    expect(proxy.remove("latency-upstream-1")).toBe(false);
  });

  it("listen() on a port in use is E_PORT_IN_USE naming the edge and the address", async () => {
    const echo = await target({ echo: true });
    const first = await proxyTo(echo.port);
    const error = await EdgeProxy.listen({ host: HOST, port: first.port, upstream: { host: HOST, port: echo.port }, name: "web→api" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe("E_PORT_IN_USE");
    expect((error as HarnessError).message).toContain('"web→api"');
    expect((error as HarnessError).message).toContain(`${HOST}:${first.port}`);
    const config = await EdgeProxy.listen({ host: HOST, port: 70_000, upstream: { host: HOST, port: echo.port } }).catch((e: unknown) => e);
    expect((config as HarnessError).code).toBe("E_CONFIG");
  });
});
