/**
 * The run's authoritative DNS server (`network.dns`): UDP and TCP on every address a kind of caller
 * reaches the harness host at, answering each query for the address it came from (dns-answer.ts),
 * forwarding names that are not the run's to the host's resolvers.
 */
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket, { type Packet } from "dns-packet";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import type { DnsNames } from "../plan/dns-names.js";
import { decide, refusal } from "./dns-answer.js";

const log = debugFor("dns");
const FORWARD_TIMEOUT_MS = 3000;

export interface DnsServerOptions {
  /** The host's resolvers ("ip" or "ip:port"), for names that are not the run's. */
  upstreams: readonly string[];
  /** A line for the run's log (a refusal, a resolver that did not answer). */
  note?: (line: string) => void;
}

export class DnsServer {
  readonly #udp: dgram.Socket[] = [];
  readonly #tcp: net.Server[] = [];
  /** Each address's listeners, once bound: an address still being made (the run network's gateway) is waited for. */
  readonly #bound = new Map<string, Promise<void>>();
  #closed = false;
  #noUpstreamNoted = false;

  private constructor(
    readonly names: DnsNames,
    private readonly options: DnsServerOptions,
  ) {}

  /**
   * Listens on every address of `names.listen`; a port taken fails with E_PORT_IN_USE, naming
   * `network.dnsPort`. An address that does not exist yet (a docker network still being made) is
   * bound as soon as it does: `ready(address)` waits for it.
   */
  static async start(names: DnsNames, options: DnsServerOptions): Promise<DnsServer> {
    const server = new DnsServer(names, options);
    for (const address of names.listen) {
      const bound = server.#listenWhenThere(address);
      bound.catch(() => {});
      server.#bound.set(address, bound);
    }
    // The addresses that exist now fail now; the others, when their service waits for them.
    const now = await Promise.allSettled([...server.#bound.values()].map((b) => Promise.race([b, new Promise<void>((r) => setTimeout(r, 50))])));
    const failed = now.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await server.close();
      throw failed.reason;
    }
    log(`listening on ${names.listen.map((a) => `${a}:${names.port}`).join(", ")} (udp, tcp); upstreams ${options.upstreams.join(", ") || "none"}`);
    return server;
  }

  /** Resolves once the server listens on `address`. */
  async ready(address: string): Promise<void> {
    await this.#bound.get(address);
  }

  async #listenWhenThere(address: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await this.#listen(address);
      } catch (error) {
        const notYet = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code === "EADDRNOTAVAIL";
        if (!notYet || Date.now() > deadline || this.#closed) throw error;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  async #listen(address: string): Promise<void> {
    const { port } = this.names;
    const udp = dgram.createSocket({ type: "udp4" });
    udp.on("message", (message, remote) => {
      void this.#handle(message, remote.address, address).then((response) => {
        if (response) udp.send(response, remote.port, remote.address);
      });
    });
    await bind(address, port, (fail, done) => {
      udp.once("error", fail);
      udp.bind(port, address, () => {
        udp.off("error", fail);
        done();
      });
    }).catch((error: unknown) => {
      udp.close();
      throw error;
    });
    this.#udp.push(udp);
    udp.on("error", (error) => log(`udp ${address}: ${error.message}`));
    const tcp = net.createServer((socket) => this.#serveTcp(socket, address));
    this.#tcp.push(tcp);
    await bind(address, port, (fail, done) => {
      tcp.once("error", fail);
      tcp.listen(port, address, () => {
        tcp.off("error", fail);
        done();
      });
    });
  }

  #serveTcp(socket: net.Socket, local: string): void {
    let buffered = Buffer.alloc(0);
    socket.on("error", () => socket.destroy());
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        void this.#handle(message, socket.remoteAddress?.replace(/^::ffff:/, "") ?? "", local).then((response) => {
          if (!response || socket.destroyed) return;
          const framed = Buffer.alloc(2 + response.length);
          framed.writeUInt16BE(response.length, 0);
          response.copy(framed, 2);
          socket.write(framed);
        });
      }
    });
  }

  /** The answer to one query from `source`; undefined when there is none to send (a packet that is no query). */
  async #handle(message: Buffer, source: string, local: string): Promise<Buffer | undefined> {
    let query: Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return undefined;
    }
    if (query.type === "response") return undefined;
    const decision = decide(this.names, source, query, local);
    if (decision.kind === "answer") return dnsPacket.encode(decision.response);
    if (decision.kind === "refused") {
      this.options.note?.(`dns: refused ${query.questions?.[0]?.name ?? "a query"} from ${decision.why}`);
      return dnsPacket.encode(decision.response);
    }
    const forwarded = await this.#forward(message);
    if (forwarded) return forwarded;
    return dnsPacket.encode(refusal(query));
  }

  /** Asks the host's resolvers in turn; undefined when none answered. */
  async #forward(message: Buffer): Promise<Buffer | undefined> {
    if (this.options.upstreams.length === 0) {
      if (!this.#noUpstreamNoted) this.options.note?.("dns: a name that is not the run's was refused: this host has no resolver (no nameserver in /etc/resolv.conf)");
      this.#noUpstreamNoted = true;
      return undefined;
    }
    for (const upstream of this.options.upstreams) {
      const [host, port] = upstream.includes(":") ? [upstream.split(":")[0]!, Number(upstream.split(":")[1])] : [upstream, 53];
      const answer = await askUdp(message, host, port).catch((error: Error) => {
        this.options.note?.(`dns: the host's resolver ${upstream} did not answer: ${error.message}`);
        return undefined;
      });
      if (answer) return answer;
    }
    return undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#bound.values());
    await Promise.all([
      ...this.#udp.map((s) => new Promise<void>((resolve) => s.close(() => resolve())).catch(() => {})),
      ...this.#tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    ]);
    this.#udp.length = 0;
    this.#tcp.length = 0;
  }
}

function bind(address: string, port: number, listen: (fail: (error: Error) => void, done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    listen((error) => {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        reject(
          new HarnessError(
            `The DNS port ${port} is taken on ${address} (\`network.dnsPort\`): stop what holds it, or give \`network.dnsPort\` another port (resolvers then reach the server only through HARNESS_DNS)`,
            { code: "E_PORT_IN_USE", cause: error },
          ),
        );
      } else {
        reject(new HarnessError(`The run's DNS server cannot listen on ${address}:${port} (\`network.dnsPort\`): ${error.message}`, { code: "E_DNS", cause: error }));
      }
    }, resolve);
  });
}

/** One query over UDP; the answer with the query's id. */
function askUdp(message: Buffer, host: string, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer within ${FORWARD_TIMEOUT_MS} ms`));
    }, FORWARD_TIMEOUT_MS);
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.on("message", (answer) => {
      if (answer.length < 2 || answer.readUInt16BE(0) !== message.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    });
    socket.send(message, port, host);
  });
}
