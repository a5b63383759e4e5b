import { execFile } from "node:child_process";
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import type { LabNode } from "../../src/public/lab.js";
import { busyboxImage, dockerAvailable } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

const KIND = { p: "local process", c: "local container", l: "LAN node", w: "WireGuard node" } as const;

/**
 * What a client at the caller runs: resolve the name the libc way (getent; busybox's nslookup in a
 * container, whose image has no getent), then connect to it by name; prints "<address> <whoami>".
 */
const RESOLVE_AND_CALL = `name=$1 port=$2
if command -v getent >/dev/null 2>&1; then ip=$(getent hosts "$name" | awk '{print $1; exit}'); else ip=$(nslookup "$name" 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}'); fi
who=$(timeout 10 wget -q -O - "http://$name:$port/whoami" 2>&1) || who="wget failed: $who"
printf '%s %s' "$ip" "$who"`;

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve) =>
    execFile(command, [...args], { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => resolve(`${stdout.trim()}${error ? ` (exit ${error.code}: ${stderr.trim()})` : ""}`)),
  );
}

describe.skipIf(!ready)("names (network.dns): every caller location reaches every target location by name", () => {
  const labOf = labForSuite([
    { name: "lan1", network: "lan" },
    { name: "wan1", network: "wan" },
  ]);
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("answers each caller its own *_HOST, and a real client connects by name in all 16 cells", async () => {
    const image = await busyboxImage();
    const [lan1, wan1] = ["lan1", "wan1"].map((n) => labOf().node(n)) as [LabNode, LabNode];
    const before = { lan1: await labOf().exec("lan1", ["cat", "/etc/resolv.conf"]), wan1: await labOf().exec("wan1", ["cat", "/etc/resolv.conf"]) };
    const hostResolv = fs.readFileSync("/etc/resolv.conf", "utf8");
    const server = { binary: NODE, args: [HTTP_SERVER], port: 8080, health: { http: "/health" } };

    harness = await Harness.builder({ network: { dns: true } })
      .process("p1", { ...server, port: 0 })
      .docker("c1", { image, port: 8080 })
      .remoteLan("l1", { ...on(lan1), ...server, dns: true })
      .wireguard("w1", { ...on(wan1), ...server, dns: true })
      .start();
    const h = harness;

    // Every service is told where the server is; the nodes' resolvers point at it while the run lasts.
    for (const name of ["p1", "c1", "l1", "w1"]) expect(h.envFor(name).HARNESS_DNS).toMatch(/^\d+\.\d+\.\d+\.\d+:53$/);
    expect((await labOf().exec("lan1", ["cat", "/etc/resolv.conf"])).stdout).toContain(`nameserver ${h.envFor("l1").HARNESS_DNS!.split(":")[0]}`);
    expect((await labOf().exec("wan1", ["cat", "/etc/resolv.conf"])).stdout).toContain(`nameserver ${h.envFor("w1").HARNESS_DNS!.split(":")[0]}`);

    const pid = (await h.service("p1").status()).pid!;
    const containerId = (await h.service("c1").status()).containerId!;
    const at = (caller: string, target: string, port: string): Promise<string> => {
      const args = [target, port];
      switch (caller[0]) {
        case "p":
          // In the process's own mount namespace: the resolv.conf it resolves with.
          return run("nsenter", ["-t", String(pid), "-m", "--", "sh", "-c", RESOLVE_AND_CALL, "sh", ...args]);
        case "c":
          return run("docker", ["exec", containerId, "sh", "-c", RESOLVE_AND_CALL, "sh", ...args]);
        default:
          return labOf()
            .exec(caller === "l1" ? "lan1" : "wan1", ["sh", "-c", RESOLVE_AND_CALL, "sh", ...args])
            .then((r) => `${r.stdout.trim()}${r.code === 0 ? "" : ` (exit ${r.code}: ${r.stderr.trim()})`}`);
      }
    };

    const names = ["p1", "c1", "l1", "w1"];
    const cells = new Set<string>();
    const failures: string[] = [];
    await Promise.all(
      names.flatMap((caller) =>
        names.map(async (target) => {
          const env = h.envFor(caller);
          const prefix = target.toUpperCase();
          // Its own name: the address it has for itself (a caller's own port is its PORT).
          const expectedHost = caller === target ? undefined : env[`${prefix}_HOST`];
          const port = caller === target ? env.PORT! : env[`${prefix}_PORT`]!;
          const answer = await at(caller, target, port);
          cells.add(`${KIND[caller[0] as keyof typeof KIND]} → ${KIND[target[0] as keyof typeof KIND]}`);
          const [ip, ...who] = answer.split(" ");
          if (expectedHost !== undefined && ip !== expectedHost) failures.push(`${caller}→${target}: the name answered ${ip}, ${prefix}_HOST is ${expectedHost} (${answer})`);
          if (who.join(" ") !== target) failures.push(`${caller}→${target} by name at port ${port}: ${answer}`);
        }),
      ),
    );
    expect(failures).toEqual([]);
    expect(cells.size).toBe(16);

    // The SRV form and the run's domain, from the harness host's own view.
    const dns = h.envFor("p1").HARNESS_DNS!;
    expect(dns.startsWith("127.")).toBe(true);

    await h.stop();
    harness = undefined;
    // Stopping put back every resolver it changed; the host's own was never touched.
    expect((await labOf().exec("lan1", ["cat", "/etc/resolv.conf"])).stdout).toBe(before.lan1.stdout);
    expect((await labOf().exec("wan1", ["cat", "/etc/resolv.conf"])).stdout).toBe(before.wan1.stdout);
    expect(fs.readFileSync("/etc/resolv.conf", "utf8")).toBe(hostResolv);
  }, 240_000);
});
