import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { reapOrphans } from "../../src/runtimes/reapers.js";
import { listRuns } from "../../src/state/runs.js";
import { fetchFromNode, labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const run = promisify(execFile);
const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");

async function get(addr: string | undefined, urlPath: string, ms = 10_000): Promise<string> {
  const response = await fetch(`http://${addr}${urlPath}`, { signal: AbortSignal.timeout(ms) });
  return (await response.text()).trim();
}

function wireguardInterfaces(): string[] {
  return fs.readdirSync("/sys/class/net").filter((n) => fs.existsSync(`/sys/class/net/${n}/tun_flags`) || /^wg/.test(n));
}

describe.skipIf(!labAvailable())("the WireGuard mesh on lab nodes", () => {
  const labOf = labForSuite([
    { name: "db", network: "lan" },
    // A non-root user: the node joins the mesh through sudo.
    { name: "api", network: "lan", user: "mbuser" },
    { name: "load", network: "wan" },
  ]);
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("runs the ADR's example: LAN peers get LAN addresses, the WireGuard node mesh addresses, and it reaches both", async () => {
    const [db, api, load] = [labOf().node("db"), labOf().node("api"), labOf().node("load")];
    const h = await Harness.builder()
      .remoteLan("postgres", { ...on(db), binary: NODE, args: [HTTP_SERVER], port: 5432, health: { http: "/health" } })
      .remoteLan("api-server", { ...on(api), binary: NODE, args: [HTTP_SERVER], port: 8080, dependsOn: ["postgres"], health: { http: "/health" } })
      .wireguard("load-gen", { ...on(load), binary: NODE, args: [HTTP_SERVER], port: 9000, dependsOn: ["api-server"], health: { http: "/health" } })
      .start();
    harness = h;
    const registry = h.registry();
    const pgMesh = registry.postgres!.addresses.wireguard!;
    const apiMesh = registry["api-server"]!.addresses.wireguard!;
    expect(pgMesh).toMatch(/^10\.42\.0\.\d+:5432$/);
    expect(apiMesh).toMatch(/^10\.42\.0\.\d+:8080$/);
    expect(registry["load-gen"]!.addresses.wireguard).toMatch(/^10\.42\.0\.\d+:9000$/);

    expect(h.envFor("api-server").POSTGRES_ADDR).toBe(`${db.host}:5432`);
    const env = h.envFor("load-gen");
    expect(env.POSTGRES_ADDR).toBe(pgMesh);
    expect(env.API_SERVER_ADDR).toBe(apiMesh);
    expect(await get(h.services["api-server"].addr, "/call/POSTGRES_ADDR")).toBe(`${db.host}:5432 -> postgres`);
    expect(await get(h.services["load-gen"].addr, "/call/POSTGRES_ADDR")).toBe(`${pgMesh} -> postgres`);
    expect(await get(h.services["load-gen"].addr, "/call/API_SERVER_ADDR")).toBe(`${apiMesh} -> api-server`);
    // The load node has no other way to them.
    expect(await fetchFromNode(labOf(), "load", `http://${db.host}:5432/whoami`, 1_000)).toBe("failed");
    // A LAN node leaves the mesh when its last service stops; the others stay.
    await h.services.postgres.stop();
    const peers = await h.mesh.peers();
    expect(peers.find((p) => p.services.includes("postgres"))).toMatchObject({ connected: false });
    expect(peers.find((p) => p.services.includes("api-server"))).toMatchObject({ connected: true });
    await h.services.postgres.restart();
    expect((await h.mesh.peers()).find((p) => p.services.includes("postgres"))).toMatchObject({ connected: true });
    expect(await get(h.services["load-gen"].addr, "/call/POSTGRES_ADDR")).toBe(`${pgMesh} -> postgres`);
  });

  it("creates no interface without a wireguard service", async () => {
    const before = wireguardInterfaces();
    const h = await Harness.builder()
      .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .remoteLan("lan", { ...on(labOf().node("db")), binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } })
      .start();
    harness = h;
    expect(wireguardInterfaces()).toEqual(before);
    expect((await labOf().exec("db", ["ip", "-o", "link"])).stdout).not.toMatch(/wg-/);
    expect(h.registry().lan!.addresses.wireguard).toBeUndefined();
    expect(() => h.mesh).toThrow(/no WireGuard mesh/);
  });

  it("revoke(name) cuts the node off at once: its connections through the mesh fail within a second", async () => {
    const h = await Harness.builder()
      .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .wireguard("remote", { ...on(labOf().node("load")), binary: NODE, args: [HTTP_SERVER], port: 9000, health: { logLine: "listening on" } })
      .start();
    harness = h;
    const local = h.envFor("remote").LOCAL_ADDR!;
    expect(await get(h.services.remote.addr, "/call/LOCAL_ADDR")).toBe(`${local} -> local`);
    expect(await fetchFromNode(labOf(), "load", `http://${local}/whoami`, 2_000)).toBe("local");
    expect((await h.mesh.peers())[0]).toMatchObject({ services: ["remote"], connected: true });

    await h.mesh.revoke("remote");
    const revokedAt = Date.now();
    // Each attempt has one second: a connection that still worked would answer well within it.
    const [fromNode, toNode] = await Promise.all([fetchFromNode(labOf(), "load", `http://${local}/whoami`, 1_000), get(h.services.remote.addr, "/whoami", 1_000).catch(() => "failed")]);
    expect(fromNode).toBe("failed");
    expect(toNode).toBe("failed");
    expect(Date.now() - revokedAt).toBeLessThan(2_500);
    expect((await h.mesh.peers())[0]).toMatchObject({ connected: false });
    // For good: a restart does not bring it back.
    await h.services.remote.restart();
    expect((await h.mesh.peers())[0]).toMatchObject({ connected: false });
    expect(await get(h.services.remote.addr, "/whoami", 1_000).catch(() => "failed")).toBe("failed");
  });

  it("stopping a wireguard service removes its node's peer; teardown removes the hub and the node's interface", async () => {
    const h = await Harness.builder()
      .wireguard("remote", { ...on(labOf().node("load")), binary: NODE, args: [HTTP_SERVER], port: 9000, health: { http: "/health" } })
      .start();
    harness = h;
    const ifname = h.mesh.interfaceName;
    expect(ifname).toBe(`wg-${h.runId}`.slice(0, 15));
    expect((await labOf().exec("load", ["ip", "-o", "link", "show", ifname])).code).toBe(0);
    const conf = await labOf().exec("load", ["sh", "-c", `stat -c %a /opt/harness/.mesh-${h.runId}/network/wireguard.conf`]);
    expect(conf.stdout.trim()).toBe("600");
    expect((await run("iptables", ["-S", "FORWARD"])).stdout).toContain(`meshbed-${h.runId}`);
    await h.services.remote.stop();
    expect((await h.mesh.peers())[0]).toMatchObject({ connected: false });
    await h.services.remote.restart();
    expect((await h.mesh.peers())[0]).toMatchObject({ connected: true });
    expect(await get(h.services.remote.addr, "/whoami")).toBe("remote");
    const runId = h.runId;
    await h.stop();
    harness = undefined;
    expect(fs.existsSync(`/sys/class/net/${ifname}`)).toBe(false);
    expect(fs.existsSync(`/var/run/wireguard/${ifname}.sock`)).toBe(false);
    expect((await labOf().exec("load", ["ip", "-o", "link", "show", ifname])).code).not.toBe(0);
    expect((await labOf().exec("load", ["ls", "/opt/harness"])).stdout).not.toContain(`.mesh-${runId}`);
    expect((await run("iptables", ["-S", "FORWARD"])).stdout).not.toContain(`meshbed-${runId}`);
  });

  it("takes the hub's endpoint from network.hubEndpoint, and listens on its port, on a subnet of the user's choice", async () => {
    const load = labOf().node("load");
    const h = await Harness.builder({ network: { hubEndpoint: `${load.hostIp}:51999`, wireguardSubnet: "10.43.7.0/24", wireguardInterface: "wg-mbtest" } })
      .process("local", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .wireguard("remote", { ...on(load), binary: NODE, args: [HTTP_SERVER], port: 9000, health: { http: "/health" } })
      .start();
    harness = h;
    expect(h.mesh.interfaceName).toBe("wg-mbtest");
    expect((await run("wg", ["show", "wg-mbtest", "listen-port"])).stdout.trim()).toBe("51999");
    expect(h.envFor("remote").LOCAL_ADDR).toBe(`10.43.7.1:${h.services.local.port}`);
    expect(h.registry().remote!.addresses.wireguard).toBe("10.43.7.2:9000");
    expect(await get(h.services.remote.addr, "/call/LOCAL_ADDR")).toBe(`${h.envFor("remote").LOCAL_ADDR} -> local`);
  });

  it("refuses a subnet that overlaps a route of the host, naming both, before anything starts", async () => {
    const lanRoute = labOf().subnets.lan;
    const marker = path.join(os.tmpdir(), `mb-mesh-subnet-${process.pid}`);
    const start = Harness.builder({ network: { wireguardSubnet: lanRoute } })
      .process("first", { binary: "sh", args: ["-c", `touch ${marker}; sleep 30`] })
      .wireguard("remote", { ...on(labOf().node("load")), binary: "sleep", args: ["30"] })
      .start();
    await expect(start).rejects.toMatchObject({ code: "E_MESH_SUBNET" });
    await expect(start).rejects.toThrow(new RegExp(`${lanRoute.replace(/\./g, "\\.")}.*overlaps the host's route "${lanRoute.replace(/\./g, "\\.")} dev`));
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("fails without CAP_NET_ADMIN before any service starts, naming the capability and how to get it", async () => {
    const marker = path.join(os.tmpdir(), `mb-mesh-nocap-${process.pid}`);
    const before = wireguardInterfaces();
    const { stdout } = await run("setpriv", ["--inh-caps=-net_admin", "--bounding-set=-net_admin", NODE, "--import", "tsx", fixture("mesh-nocap.mts")], {
      env: { ...process.env, MARKER: marker, LAB_NODE: JSON.stringify(on(labOf().node("load"))) },
    });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { code: string; message: string };
    expect(result.code).toBe("E_MESH_PRIVILEGE");
    expect(result.message).toMatch(/CAP_NET_ADMIN/);
    expect(result.message).toMatch(/setcap cap_net_admin\+ep|run the harness as root/);
    expect(fs.existsSync(marker)).toBe(false);
    expect(wireguardInterfaces()).toEqual(before);
  });

  it("reaps what a crashed run's mesh left: the hub interface, its iptables rule, the node's interface and dir", async () => {
    const load = labOf().node("load");
    const child = spawn(NODE, ["--import", "tsx", fixture("mesh-crash.mts")], {
      env: { ...process.env, LAB_NODE: JSON.stringify(on(load)) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const { runId, ifname } = await new Promise<{ runId: string; ifname: string }>((resolve, reject) => {
      child.stdout.once("data", (d: Buffer) => resolve(JSON.parse(d.toString()) as { runId: string; ifname: string }));
      child.once("exit", (code) => reject(new Error(`the crashing child exited early (${code})`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    // The hub interface may be gone already (the watchdog deletes a dead harness's) or not yet:
    // whichever wins, the reaper must leave nothing and report no failure.
    const record = listRuns().find((r) => r.runId === runId)!;
    expect(record.state.resources.map((r) => r.kind)).toEqual(expect.arrayContaining(["mesh-hub", "mesh-sysctl", "mesh-iptables", "mesh-node"]));
    const [report] = await reapOrphans([record]);
    expect(report!.failed).toEqual([]);
    expect(fs.existsSync(`/sys/class/net/${ifname}`)).toBe(false);
    expect((await run("iptables", ["-S", "FORWARD"])).stdout).not.toContain(`meshbed-${runId}`);
    expect((await labOf().exec("load", ["ip", "-o", "link", "show", ifname])).code).not.toBe(0);
    expect((await labOf().exec("load", ["ls", "-A", "/opt/harness"])).stdout).not.toContain(`.mesh-${runId}`);
  });
});
