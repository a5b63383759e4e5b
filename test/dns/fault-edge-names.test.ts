import { execFile } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { busyboxImage, dockerAvailable } from "../support/images.js";

const ready = await dockerAvailable();

const RESOLVE_AND_CALL = `ip=$(nslookup "$1" 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}')
printf '%s %s' "$ip" "$(timeout 10 wget -q -O - "http://$1:$2/whoami" 2>&1 || echo failed)"`;

function inContainer(id: string, target: string, port: string): Promise<string> {
  return new Promise((resolve) =>
    execFile("docker", ["exec", id, "sh", "-c", RESOLVE_AND_CALL, "sh", target, port], { encoding: "utf8", timeout: 30_000 }, (e, out, err) =>
      resolve(`${out.trim()}${e ? ` (${err.trim()})` : ""}`),
    ),
  );
}

describe.skipIf(!ready)("names (network.dns) through a fault edge's proxy", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("answers the caller of a fault edge the proxy's address (not Docker's alias), and the other callers the target's own", async () => {
    const image = await busyboxImage();
    harness = await Harness.builder({ network: { dns: true }, faults: { edges: [["via", "db"]] } })
      .docker("db", { image, port: 8080 })
      .docker("via", { image, port: 8080 })
      .docker("direct", { image, port: 8080 })
      .start();
    const h = harness;
    const via = h.envFor("via");
    const direct = h.envFor("direct");
    expect(via.DB_HOST).not.toBe(direct.DB_HOST);
    expect(await inContainer((await h.service("via").status()).containerId!, "db", via.DB_PORT!)).toBe(`${via.DB_HOST} db`);
    expect(await inContainer((await h.service("direct").status()).containerId!, "db", direct.DB_PORT!)).toBe(`${direct.DB_HOST} db`);
    // The edge's faults act on the connection made by name.
    await h.faults.reset("via", "db");
    expect(await inContainer((await h.service("via").status()).containerId!, "db", via.DB_PORT!)).toMatch(new RegExp(`^${via.DB_HOST!.replace(/\./g, "\\.")} wget: error getting response`));
  }, 120_000);
});
