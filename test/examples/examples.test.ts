/**
 * The package as a user gets it: `npm pack`, installed into a copy of each example project,
 * whose own test suite then runs against real processes.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
let work: string;
let tarball: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-examples-"));
  const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: root, encoding: "utf8" }).trim().split("\n").pop()!;
  tarball = path.join(work, name);
  fs.cpSync(path.join(root, "examples/shared"), path.join(work, "shared"), { recursive: true });
}, 180_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function runExample(name: string): string {
  const dir = path.join(work, name);
  fs.cpSync(path.join(root, "examples", name), dir, { recursive: true, filter: (src) => !src.includes("node_modules") });
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  pkg.devDependencies.meshbed = `file:${tarball}`;
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "pipe" });
  const result = spawnSync("npm", ["test", "--silent"], { cwd: dir, encoding: "utf8", env: { ...process.env, CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" } });
  const output = `${result.stdout}\n${result.stderr}`.replace(/\u001b\[[0-9;]*m/g, "");
  if (result.status !== 0) throw new Error(`examples/${name} failed (exit ${result.status}):\n${output}`);
  return output;
}

describe("the packed package in a fresh project", () => {
  it("runs examples/vitest's suite green", () => {
    const out = runExample("vitest");
    expect(out).toMatch(/Tests\s+2 passed \(2\)/);
  }, 300_000);

  it("runs examples/jest's suite green", () => {
    const out = runExample("jest");
    expect(out).toMatch(/Tests:\s+2 passed, 2 total/);
  }, 300_000);
});
