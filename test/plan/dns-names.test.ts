import dnsPacket from "dns-packet";
import { describe, expect, it } from "vitest";
import { decide } from "../../src/dns/dns-answer.js";
import { HarnessError } from "../../src/errors.js";
import { makePlan } from "../../src/plan/plan.js";
import { hostFacts, serviceSpec, topology } from "./fixtures.js";

const DNS = { port: 53, loopbackPrefix: "127.99.7" };

function plan(withFaults = false) {
  const spec = topology(
    serviceSpec("api", "process", { port: 8080 }),
    serviceSpec("cli", "process", { port: 8081 }),
    serviceSpec("postgres", "docker", { port: 5432 }),
    serviceSpec("edge", "remote_lan", { port: 9000, options: { remoteRoot: "/opt/harness" } }),
    serviceSpec("far", "wireguard", { port: 9100, options: { remoteRoot: "/opt/harness" } }),
  );
  const withEdges = withFaults
    ? {
        ...spec,
        options: {
          faults: {
            edges: [
              ["edge", "postgres"],
              ["cli", "postgres"],
            ] as const,
          },
        },
      }
    : spec;
  return makePlan(
    withEdges,
    hostFacts({
      dns: DNS,
      hostPorts: { postgres: 32768 },
      ips: { postgres: { containerIp: "172.30.0.2" }, edge: { lanIp: "10.77.0.5" }, far: { lanIp: "10.78.0.6", meshIp: "10.42.0.2" } },
      addresses: { containerGateway: "172.30.0.1", lanIpToward: { "10.77.0.5": "10.77.0.1" }, hubMeshIp: "10.42.0.1" },
      ...(withFaults && { proxyPorts: { "edge>postgres": 40001, "cli>postgres": 40002 } }),
    }),
  );
}

function ask(p: ReturnType<typeof plan>, source: string, name: string, type: "A" | "SRV" | "AAAA" = "A", local?: string) {
  const query = dnsPacket.decode(dnsPacket.encode({ id: 7, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: "IN" }] }));
  // A process's query comes from 127.0.0.1 to its own address.
  return source.startsWith("127.") && local === undefined ? decide(p.dns!, "127.0.0.1", query, source) : decide(p.dns!, source, query, local);
}

function firstData(decision: ReturnType<typeof ask>): unknown {
  return decision.kind === "answer" ? (decision.response.answers?.[0] as { data: unknown } | undefined)?.data : undefined;
}

describe("the run's names (network.dns)", () => {
  it("gives every service its server address and HARNESS_DNS, as it reaches this host: processes one per view", () => {
    const p = plan();
    // api and cli see every target alike: one address (one resolv.conf, one mount namespace).
    expect(p.dns!.serverOf).toEqual({ api: "127.99.7.1", cli: "127.99.7.1", postgres: "172.30.0.1", edge: "10.77.0.1", far: "10.42.0.1" });
    expect(p.services.postgres!.env.HARNESS_DNS).toBe("172.30.0.1:53");
    expect(p.services.cli!.env.HARNESS_DNS).toBe("127.99.7.1:53");
    expect([...p.dns!.listen].sort()).toEqual(["10.42.0.1", "10.77.0.1", "127.99.7.1", "127.99.7.254", "172.30.0.1"]);
    expect(p.dns!.domain).toBe("t1.meshbed");
    // cli's fault edge to postgres gives it a view, and so an address, of its own.
    const faulty = plan(true);
    expect(faulty.dns!.serverOf).toMatchObject({ api: "127.99.7.1", cli: "127.99.7.2" });
    expect(faulty.dns!.askers).toMatchObject({ "127.99.7.1": "api", "127.99.7.2": "cli" });
  });

  it("answers each asker exactly what its *_HOST and *_PORT say, for every pair", () => {
    const p = plan(true);
    for (const asker of Object.keys(p.services)) {
      const source = p.services[asker]!.target === "process" ? p.dns!.serverOf[asker]! : Object.entries(p.dns!.askers).find(([, s]) => s === asker)![0];
      for (const target of Object.keys(p.services)) {
        if (target === asker) continue;
        const prefix = target.toUpperCase();
        const env = p.services[asker]!.env;
        for (const name of [target, `${target}.t1.meshbed`]) {
          const decision = ask(p, source, name);
          expect(decision.kind).toBe("answer");
          if (decision.kind !== "answer") continue;
          // A target the asker has no address of (a LAN node that is not on the mesh, from a WireGuard node) has no record.
          const host = env[`${prefix}_HOST`];
          expect(decision.response.answers).toEqual(host === undefined ? [] : [expect.objectContaining({ type: "A", data: host })]);
        }
        if (env[`${prefix}_HOST`] === undefined) continue;
        const srv = ask(p, source, `_x._tcp.${target}`, "SRV");
        expect(srv.kind === "answer" && srv.response.answers?.[0]).toMatchObject({ type: "SRV", data: { port: Number(env[`${prefix}_PORT`]), target: `${target}.t1.meshbed` } });
      }
    }
    // The fault edge's proxy, as edge's env has it.
    const viaProxy = ask(p, "10.77.0.5", "postgres");
    expect(firstData(viaProxy)).toBe("10.77.0.1");
    expect(p.services.edge!.env.POSTGRES_ADDR).toBe("10.77.0.1:40001");
    expect(firstData(ask(p, "127.99.7.2", "postgres"))).toBe("127.0.0.1");
    expect(p.services.cli!.env.POSTGRES_ADDR).toBe("127.0.0.1:40002");
  });

  it("answers the host's own view to any other loopback source, forwards other names, refuses strangers", () => {
    const p = plan();
    const fromHost = ask(p, "127.0.0.1", "postgres");
    expect(firstData(fromHost)).toBe("172.30.0.2");
    expect(ask(p, "127.99.7.254", "edge").kind).toBe("answer");
    expect(ask(p, "172.30.0.2", "example.org").kind).toBe("forward");
    const stranger = ask(p, "192.0.2.9", "postgres");
    expect(stranger.kind).toBe("refused");
    expect(stranger.kind === "refused" && stranger.response.flags! & 0xf).toBe(5);
    const unknown = ask(p, "172.30.0.2", "nope.t1.meshbed");
    expect(unknown.kind === "answer" && unknown.response.flags! & 0xf).toBe(3);
    const aaaa = ask(p, "172.30.0.2", "api", "AAAA");
    expect(aaaa.kind === "answer" && aaaa.response.answers).toEqual([]);
  });

  it("refuses a service name that is no DNS label, naming it and what to do", () => {
    const spec = topology(serviceSpec("my_db", "process", { port: 1 }));
    let error: unknown;
    try {
      makePlan(spec, hostFacts({ dns: DNS }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe("E_CONFIG");
    expect((error as HarnessError).service).toBe("my_db");
    expect((error as HarnessError).message).toMatch(/not a DNS label.*rename it, or leave `network.dns` off/);
    // Without DNS, the name is fine.
    expect(() => makePlan(spec, hostFacts())).not.toThrow();
  });
});
