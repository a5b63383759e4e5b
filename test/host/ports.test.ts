/** Free ports for `port: 0` services: picked together, all different, none of those to avoid. */
import fs from "node:fs";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { freePort, freePorts } from "../../src/host/ports.js";

const listen = (port: number) =>
  new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ port, exclusive: true }, () => resolve(server));
  });

describe("freePorts", () => {
  it("gives as many different ports as asked, each of which can then be listened on", async () => {
    const ports = await freePorts(50);
    expect(ports).toHaveLength(50);
    expect(new Set(ports).size).toBe(50);
    const servers = await Promise.all(ports.map(listen));
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it("never gives a port it is told to avoid, nor one that is taken", async () => {
    const taken = await listen(0);
    const takenPort = (taken.address() as net.AddressInfo).port;
    const avoid = new Set(await freePorts(20));
    const ports = await freePorts(20, avoid);
    expect(ports.filter((p) => avoid.has(p) || p === takenPort)).toEqual([]);
    expect(await freePort(avoid)).not.toBe(takenPort);
    await new Promise((r) => taken.close(r));
  });

  it("gives up rather than give a port to avoid, when the kernel offers only those", async () => {
    // Port 0 is picked from the ephemeral range: avoid all of it.
    const [low, high] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    const everyOffer = new Set(Array.from({ length: high! - low! + 1 }, (_, i) => low! + i));
    await expect(freePorts(2, everyOffer)).rejects.toThrow(/could not find 2 free ports/);
  });

  it("gives nothing for nothing", async () => {
    expect(await freePorts(0)).toEqual([]);
  });
});
