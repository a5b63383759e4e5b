import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli.js");
const run = promisify(execFile);

const YAML = `network:
  dns: true
services:
  api:
    target: { process: { binary: /bin/sleep, args: ["600"] } }
    port: 8080
  db:
    target: { process: { binary: /bin/sleep, args: ["600"] } }
    port: 5432
`;

async function meshbed(dir: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: dir, encoding: "utf8" });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe("meshbed plan and meshbed dig (network.dns), starting nothing", () => {
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error("dist/cli.js is missing: run `npm run build` first (npm test does)");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-dig-"));
    fs.writeFileSync(path.join(dir, "services.yaml"), YAML);
  });

  it("plan prints which name answers what for whom", async () => {
    const { code, out } = await meshbed(dir, "plan");
    expect(code).toBe(0);
    expect(out).toMatch(/Names \(DNS\): <service> and <service>\.[a-z0-9]+\.meshbed/);
    expect(out).toMatch(/for api\s+\(asks 127\.\d+\.\d+\.1\): api → 127\.0\.0\.1 \(SRV 8080\), db → 127\.0\.0\.1 \(SRV 5432\)/);
    // api and db see every name alike: one server address for both.
    expect(out.match(/HARNESS_DNS=127\.\d+\.\d+\.1:53/g)).toHaveLength(2);
    const json = JSON.parse((await meshbed(dir, "plan", "--json")).out) as { dns: { names: Record<string, Record<string, { host: string; port: number }>> } };
    expect(json.dns.names.api!.db).toEqual({ host: "127.0.0.1", port: 5432 });
  });

  it("dig answers as the server would for the caller: A, SRV, another name, a stranger's service", async () => {
    expect((await meshbed(dir, "dig", "db", "--as", "api")).out).toMatch(/^db\.\t5\tIN\tA\t127\.0\.0\.1\t; for "api"/);
    expect((await meshbed(dir, "dig", "_pg._tcp.db", "--type", "SRV", "--as", "api")).out).toMatch(/SRV\t0 0 5432 db\.[a-z0-9]+\.meshbed\./);
    expect((await meshbed(dir, "dig", "example.org", "--as", "db")).out).toContain("forwards it to the host's resolvers");
    const unknown = await meshbed(dir, "dig", "db", "--as", "nobody");
    expect(unknown.code).not.toBe(0);
    expect(unknown.out).toContain('There is no service "nobody"');
  });
});
