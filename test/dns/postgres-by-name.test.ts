import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import type { LabNode } from "../../src/public/lab.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { prerequisite } from "../support/prerequisites.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const TICKER = fixture("ticker.mjs");
/** Debian's server binaries (the `postgresql` package), whichever major version it has. */
const PG_BIN = (() => {
  const root = "/usr/lib/postgresql";
  const version = fs.existsSync(root) ? fs.readdirSync(root).sort().at(-1) : undefined;
  return version === undefined ? undefined : path.join(root, version, "bin");
})();
const havePostgres =
  prerequisite(
    "PostgreSQL (Debian's postgresql and postgresql-client)",
    PG_BIN !== undefined && fs.existsSync(path.join(PG_BIN, "postgres")) && fs.existsSync("/usr/bin/psql"),
    "apt-get install postgresql postgresql-client (scripts/system/setup.sh does)",
  ) && prerequisite("the postgres account", execFileSync("getent", ["passwd", "postgres"]).length > 0, "apt-get install postgresql (it creates the account)");
const ready = labAvailable() && havePostgres;

function run(command: string, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(command, [...args], { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, out: `${stdout}${stderr}`.trim() })),
  );
}

describe.skipIf(!ready)("names (network.dns): psql -h postgres reaches a real PostgreSQL by name", () => {
  const labOf = labForSuite([
    { name: "lan1", network: "lan" },
    { name: "wan1", network: "wan" },
  ]);
  // A cluster of its own, owned by the postgres account (postgres refuses to run as root), trusting every address.
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-pg-"));
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  afterAll(() => fs.rmSync(data, { recursive: true, force: true }));

  it("from a local process, a LAN node and a WireGuard node; getent hosts postgres is each one's POSTGRES_HOST", async () => {
    fs.chmodSync(data, 0o700);
    execFileSync("chown", ["postgres:postgres", data]);
    execFileSync("runuser", ["-u", "postgres", "--", path.join(PG_BIN!, "initdb"), "-D", data, "-A", "trust", "-U", "postgres"], { stdio: "ignore" });
    fs.appendFileSync(path.join(data, "pg_hba.conf"), "host all all 0.0.0.0/0 trust\n");
    const [lan1, wan1] = ["lan1", "wan1"].map((n) => labOf().node(n)) as [LabNode, LabNode];
    const caller = { binary: NODE, args: [TICKER], env: { TICK_MS: "1000" }, health: { logLine: "tick 1" } };

    harness = await Harness.builder({ network: { dns: true } })
      .process("postgres", {
        binary: "runuser",
        args: ["-u", "postgres", "--", path.join(PG_BIN!, "postgres"), "-D", data, "-p", "${PORT}", "-c", "listen_addresses=*", "-c", "unix_socket_directories="],
        port: 0,
      })
      .process("app", { ...caller, dependsOn: ["postgres"] })
      .remoteLan("edge", { ...on(lan1), ...caller, dns: true, dependsOn: ["postgres"] })
      .wireguard("far", { ...on(wan1), ...caller, dns: true, dependsOn: ["postgres"] })
      .start();
    const h = harness;

    const psql = (port: string) => ["sh", "-c", 'getent hosts postgres | awk \'{print $1; exit}\'; psql -h postgres -p "$1" -U postgres -Atc "select 40 + 2"', "sh", port];
    const appPid = (await h.service("app").status()).pid!;
    const answers = {
      app: await run("nsenter", ["-t", String(appPid), "-m", "--", ...psql(h.envFor("app").POSTGRES_PORT!)]),
      edge: await labOf()
        .exec("lan1", psql(h.envFor("edge").POSTGRES_PORT!))
        .then((r) => ({ code: r.code, out: `${r.stdout}${r.stderr}`.trim() })),
      far: await labOf()
        .exec("wan1", psql(h.envFor("far").POSTGRES_PORT!))
        .then((r) => ({ code: r.code, out: `${r.stdout}${r.stderr}`.trim() })),
    };
    for (const [name, answer] of Object.entries(answers)) {
      expect(answer, name).toEqual({ code: 0, out: `${h.envFor(name).POSTGRES_HOST}\n42` });
    }
    // Three different addresses of one service, each the one its caller reaches.
    expect(new Set(Object.keys(answers).map((n) => h.envFor(n).POSTGRES_HOST)).size).toBe(3);
  }, 180_000);
});
