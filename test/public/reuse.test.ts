/**
 * `reuse: true` through the vitest integration, as a user's project runs it: a vitest project in a
 * temp dir whose globalSetup is `harnessSetup(factory, { reuse: true })`, run twice. The first run
 * starts the topology in a detached owner, the second attaches to it (fast, same addresses), and
 * `meshbed down` leaves nothing.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPO, alive, fixture } from "../support/process-tracker.js";

const CLI = path.join(REPO, "dist/cli.js");
let project: string;

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error("dist/ is missing: run `npm run build` first (this test runs the package as a user does)");
  project = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-reuse-"));
  // The package and vitest as a user's node_modules has them (links: no install).
  fs.mkdirSync(path.join(project, "node_modules"));
  fs.symlinkSync(REPO, path.join(project, "node_modules/meshbed"));
  fs.symlinkSync(path.join(REPO, "node_modules/vitest"), path.join(project, "node_modules/vitest"));
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "reuse-project", type: "module", private: true }));
  fs.writeFileSync(path.join(project, "vitest.config.mjs"), `export default { test: { globalSetup: ["./setup.mjs"], include: ["*.test.mjs"] } };\n`);
  fs.writeFileSync(
    path.join(project, "setup.mjs"),
    `import fs from "node:fs";
import { Harness } from "meshbed";
import { harnessSetup } from "meshbed/vitest";

const setup = harnessSetup(
  () =>
    Harness.builder()
      .process("db", { binary: process.execPath, args: [${JSON.stringify(fixture("http-server.mjs"))}], port: 0, health: { http: "/health" } })
      .process("api", { binary: process.execPath, args: [${JSON.stringify(fixture("http-server.mjs"))}], port: 0, dependsOn: ["db"], health: { http: "/health" } }),
  { reuse: true },
);

export default async (context) => {
  const started = performance.now();
  const teardown = await setup(context);
  fs.appendFileSync("setup-ms.txt", \`\${performance.now() - started}\\n\`);
  return teardown;
};
`,
  );
  fs.writeFileSync(
    path.join(project, "api.test.mjs"),
    `import fs from "node:fs";
import { expect, test } from "vitest";
import { useHarness } from "meshbed/vitest";

test("api reaches db", async () => {
  const h = useHarness();
  const answer = await fetch(\`http://\${h.services.api.addr}/call/DB_ADDR\`);
  expect(await answer.text()).toBe(\`\${h.env.api.DB_ADDR} -> db\`);
  fs.appendFileSync("runs.jsonl", JSON.stringify({ runId: h.runId, api: h.services.api.addr, db: h.services.db.addr }) + "\\n");
});
`,
  );
});

afterAll(() => {
  // Whatever the test left (it fails before `down`): the run is ended as a user would.
  for (const line of readLines("runs.jsonl")) spawnSync(process.execPath, [CLI, "down", JSON.parse(line).runId], { cwd: project });
  fs.rmSync(project, { recursive: true, force: true });
});

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(path.join(project, file), "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

function vitestRun(): void {
  const result = spawnSync(process.execPath, [path.join(REPO, "node_modules/vitest/vitest.mjs"), "run"], {
    cwd: project,
    encoding: "utf8",
    env: { ...process.env, CI: "true", NO_COLOR: "1", MESHBED_REQUIRE_ALL: undefined },
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`vitest run failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
}

it("a second `vitest run` attaches to the first one's topology in ≤ 50 ms; `meshbed down` ends it", async () => {
  vitestRun();
  const [first] = readLines("runs.jsonl").map((l) => JSON.parse(l) as { runId: string; api: string; db: string });
  const runDir = path.join(os.tmpdir(), `harness-${first!.runId}`);
  const state = JSON.parse(fs.readFileSync(path.join(runDir, "state.json"), "utf8")) as { pid: number };
  // The owner outlived the test run that started it.
  expect(alive(state.pid)).toBe(true);
  const descriptor = JSON.parse(fs.readFileSync(path.join(runDir, "descriptor.json"), "utf8")) as { services: Record<string, { addr: string }> };
  expect(descriptor.services.api!.addr).toBe(first!.api);

  vitestRun();
  const runs = readLines("runs.jsonl").map((l) => JSON.parse(l));
  expect(runs).toHaveLength(2);
  expect(runs[1]).toEqual(first);
  const [fresh, attach] = readLines("setup-ms.txt").map(Number) as [number, number];
  expect(attach).toBeLessThanOrEqual(50);
  expect(attach).toBeLessThan(fresh);

  const down = spawnSync(process.execPath, [CLI, "down", first!.runId], { cwd: project, encoding: "utf8" });
  expect(down.stdout).toContain(`Run ${first!.runId} is down.`);
  expect(alive(state.pid)).toBe(false);
  expect(fs.existsSync(runDir)).toBe(false);
  expect(fs.existsSync(path.join(os.tmpdir(), `meshbed-up-${first!.runId}.log`))).toBe(false);
  // Neither service answers any more.
  for (const addr of [first!.api, first!.db]) await expect(fetch(`http://${addr}/health`)).rejects.toThrow();
});

it("a runner attaches to the run of `meshbed up -d` of a file with `reuse: true`", async () => {
  fs.writeFileSync(
    path.join(project, "services.yaml"),
    `reuse: true\nservices:\n  solo:\n    target: { process: { binary: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(fixture("http-server.mjs"))}] } }\n    port: 0\n    health: { http: /health }\n`,
  );
  fs.writeFileSync(
    path.join(project, "attach.mjs"),
    `import { Harness } from "meshbed";\nconst h = await Harness.fromFile("services.yaml").start();\nconsole.log(JSON.stringify({ runId: h.runId, attached: h.attached, addr: h.services.solo.addr }));\nawait h.stop();\n`,
  );
  const up = spawnSync(process.execPath, [CLI, "up", "-d", "-f", "services.yaml", "--status-port", "0", "--json"], { cwd: project, encoding: "utf8" });
  expect(up.status, up.stderr).toBe(0);
  const { runId, registry } = JSON.parse(up.stdout) as { runId: string; registry: Record<string, { addr: string }> };
  try {
    const attach = spawnSync(process.execPath, ["attach.mjs"], { cwd: project, encoding: "utf8" });
    expect(attach.status, attach.stderr).toBe(0);
    expect(JSON.parse(attach.stdout)).toEqual({ runId, attached: true, addr: registry.solo!.addr });
  } finally {
    spawnSync(process.execPath, [CLI, "down", runId], { cwd: project });
  }
  expect(fs.existsSync(path.join(os.tmpdir(), `harness-${runId}`))).toBe(false);
});
