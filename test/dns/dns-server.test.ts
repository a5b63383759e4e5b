import dgram from "node:dgram";
import net from "node:net";
import dnsPacket, { type Packet } from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import { DnsServer } from "../../src/dns/dns-server.js";
import { HarnessError } from "../../src/errors.js";
import { freePort } from "../../src/host/ports.js";
import { makePlan } from "../../src/plan/plan.js";
import { hostFacts, serviceSpec, topology } from "../plan/fixtures.js";

/** A run's names on loopback only, at a free port: what the server answers needs no root. */
async function names(port: number) {
  const spec = topology(serviceSpec("api", "process", { port: 8080 }), serviceSpec("db", "process", { port: 5432 }));
  return makePlan(spec, hostFacts({ runId: "dnst", dns: { port, loopbackPrefix: "127.93.5" } })).dns!;
}

function query(name: string, type: "A" | "SRV" = "A"): Buffer {
  return dnsPacket.encode({ id: 4242, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: "IN" }] });
}

function askUdp(host: string, port: number, message: Buffer): Promise<Packet & { rcode?: string }> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("no answer"));
    }, 5000);
    socket.once("message", (answer) => {
      clearTimeout(timer);
      socket.close();
      resolve(dnsPacket.decode(answer) as Packet & { rcode?: string });
    });
    socket.send(message, port, host);
  });
}

function askTcp(host: string, port: number, message: Buffer): Promise<Packet & { rcode?: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let data = Buffer.alloc(0);
    socket.once("error", reject);
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        socket.end();
        resolve(dnsPacket.decode(data.subarray(2)) as Packet & { rcode?: string });
      }
    });
    const framed = Buffer.alloc(2 + message.length);
    framed.writeUInt16BE(message.length, 0);
    message.copy(framed, 2);
    socket.write(framed);
  });
}

/** A resolver of "the host" on loopback: answers every A query with 192.0.2.77. */
async function fakeUpstream(): Promise<{ address: string; close: () => void; asked: string[] }> {
  const socket = dgram.createSocket("udp4");
  const asked: string[] = [];
  socket.on("message", (message, remote) => {
    const q = dnsPacket.decode(message);
    asked.push(q.questions![0]!.name);
    const answer = dnsPacket.encode({
      id: q.id,
      type: "response",
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions,
      answers: [{ name: q.questions![0]!.name, type: "A", ttl: 60, data: "192.0.2.77" }],
    });
    socket.send(answer, remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { address: `127.0.0.1:${socket.address().port}`, close: () => socket.close(), asked };
}

describe("the run's DNS server (real UDP and TCP sockets)", () => {
  let server: DnsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("answers the run's names over UDP and TCP, each process its own view, and forwards other names to the host's resolver", async () => {
    const port = await freePort();
    const upstream = await fakeUpstream();
    try {
      const n = await names(port);
      server = await DnsServer.start(n, { upstreams: [upstream.address] });
      const udp = await askUdp(n.serverOf.api!, port, query("db"));
      expect(udp.id).toBe(4242);
      expect(udp.answers).toEqual([expect.objectContaining({ type: "A", data: "127.0.0.1" })]);
      const tcp = await askTcp(n.serverOf.db!, port, query("_pg._tcp.api.dnst.meshbed", "SRV"));
      expect(tcp.answers).toEqual([expect.objectContaining({ type: "SRV", data: expect.objectContaining({ port: 8080, target: "api.dnst.meshbed" }) })]);
      const other = await askUdp(n.hostAddress, port, query("example.org"));
      expect(other.answers).toEqual([expect.objectContaining({ type: "A", data: "192.0.2.77" })]);
      expect(upstream.asked).toEqual(["example.org"]);
      const otherTcp = await askTcp(n.hostAddress, port, query("example.net"));
      expect(otherTcp.answers).toEqual([expect.objectContaining({ data: "192.0.2.77" })]);
      expect((await askUdp(n.hostAddress, port, query("nope.dnst.meshbed"))).rcode).toBe("NXDOMAIN");
    } finally {
      upstream.close();
    }
  });

  it("refuses a name that is not the run's when the host has no resolver, with one clear log line", async () => {
    const port = await freePort();
    const notes: string[] = [];
    const n = await names(port);
    server = await DnsServer.start(n, { upstreams: [], note: (line) => notes.push(line) });
    expect((await askUdp(n.hostAddress, port, query("example.org"))).rcode).toBe("REFUSED");
    expect((await askUdp(n.hostAddress, port, query("example.com"))).rcode).toBe("REFUSED");
    expect(notes).toEqual([expect.stringMatching(/not the run's was refused: this host has no resolver/)]);
    // The run's own names still answer.
    expect((await askUdp(n.hostAddress, port, query("api"))).answers).toHaveLength(1);
  });

  it("fails with E_PORT_IN_USE naming network.dnsPort when its port is taken, and leaves nothing listening", async () => {
    const port = await freePort();
    const holder = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => holder.bind(port, "0.0.0.0", resolve));
    try {
      const error = await DnsServer.start(await names(port), { upstreams: [] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HarnessError);
      expect((error as HarnessError).code).toBe("E_PORT_IN_USE");
      expect((error as HarnessError).message).toMatch(/DNS port \d+ is taken.*`network\.dnsPort`/);
    } finally {
      holder.close();
    }
    // Nothing of the failed server holds the port: a new one starts.
    server = await DnsServer.start(await names(port), { upstreams: [] });
  });
});
