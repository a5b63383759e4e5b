import { execFile } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { busyboxImage, dockerAvailable } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

/** Resolves the name with busybox's nslookup in the container, then fetches /whoami by name; prints "<address> <whoami>". */
const RESOLVE_AND_CALL = `ip=$(nslookup "$1" 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}')
printf '%s %s' "$ip" "$(timeout 10 wget -q -O - "http://$1:$2/whoami" 2>&1 || echo failed)"`;

describe.skipIf(!ready)("names (network.dns) in a container on a LAN node's own engine (`docker` with `dns: true`)", () => {
  const labOf = labForSuite([{ name: "dk1", network: "lan", docker: true }]);
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("answers it what its node's services get, and it connects by name to a local process and a local container", async () => {
    const image = await busyboxImage();
    const dk1 = labOf().node("dk1");
    harness = await Harness.builder({ network: { dns: true } })
      .process("p1", { binary: NODE, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .docker("c1", { image, port: 8080 })
      .remoteLan("n1", { ...on(dk1), dns: true, docker: { image }, port: 8081 })
      .start();
    const h = harness;
    const env = h.envFor("n1");
    const container = (await h.service("n1").status()).containerId!;
    const at = (target: string, port: string) =>
      new Promise<string>((resolve) =>
        execFile("docker", ["-H", dk1.dockerHost!, "exec", container, "sh", "-c", RESOLVE_AND_CALL, "sh", target, port], { encoding: "utf8", timeout: 30_000 }, (e, out, err) =>
          resolve(`${out.trim()}${e ? ` (${err.trim()})` : ""}`),
        ),
      );
    expect(await at("p1", env.P1_PORT!)).toBe(`${env.P1_HOST} p1`);
    expect(await at("c1", env.C1_PORT!)).toBe(`${env.C1_HOST} c1`);
  }, 240_000);
});
