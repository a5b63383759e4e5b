/**
 * The rest of the CLI: every command's --help, exit codes, --json, the live start lines on a TTY,
 * `meshbed pack` and `meshbed lab up|down|list`.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { StartProgress } from "../../src/cli/progress.js";
import { COMMANDS } from "../../src/cli/commands.js";
import { labAvailable } from "../support/lab.js";
import { greeterPackage, writePackageDir } from "../support/packages.js";
import { hasCommand } from "../support/prerequisites.js";
import { alive } from "../support/process-tracker.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli.js");
const demo = path.join(root, "examples/demo/services.yaml");
const execFileAsync = promisify(execFile);
const children: ChildProcess[] = [];
let tmp: string;

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error("dist/cli.js is missing: run `npm run build` first (npm test does)");
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-cli-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** Runs the CLI to its end; resolves its exit code and output whatever the code. */
async function meshbed(args: string[], options: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], { cwd: options.cwd ?? tmp, encoding: "utf8" });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("--help", () => {
  it("lists every command, and each command's --help shows its own usage and options, exit 0", async () => {
    const top = await meshbed(["--help"]);
    expect(top.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) {
      expect(top.stdout).toMatch(new RegExp(`^  ${name}\\s+\\S`, "m"));
      const own = await meshbed([name, "--help"]);
      expect(own.code, name).toBe(0);
      expect(own.stdout, name).toContain(`meshbed ${name}`);
      expect(own.stdout, name).toContain(COMMANDS[name]!.summary.split("\n")[0]);
    }
    expect((await meshbed(["help", "up"])).stdout).toContain("-f, --file");
  });

  it("accepts every option its --help names (and touches no run: each is pointed at one that does not exist)", async () => {
    const safe: Record<string, string[]> = {
      up: ["-f", "/nonexistent/services.yaml"],
      down: ["nope"],
      status: ["--run", "nope"],
      logs: ["--run", "nope"],
      env: ["api", "--run", "nope"],
      plan: ["-f", "/nonexistent/services.yaml"],
      pack: ["/nonexistent"],
      lab: ["list"],
    };
    for (const [name, base] of Object.entries(safe)) {
      const options = new Set(COMMANDS[name]!.usage.match(/--[a-z][a-z-]*/g));
      expect(options.size, name).toBeGreaterThan(0);
      for (const option of options) {
        const result = await meshbed([name, ...base, `${option}=1`]);
        expect(result.stderr, `${name} ${option}`).not.toMatch(/Unknown option/);
      }
    }
  });
});

describe("exit codes: 0 ok, 1 a service failed, 2 bad input", () => {
  it.each([
    [["nope"], /unknown command "nope"/],
    [["up", "--bogus"], /meshbed up: Unknown option '--bogus'. See meshbed up --help/],
    [["up", "-f", "/nonexistent/services.yaml"], /services\.yaml/],
    [["plan", "-f", "/nonexistent/services.yaml"], /services\.yaml/],
    [["status", "--run", "nope"], /^$/],
    [["env"], /Name the service/],
    [["logs", "--run", "nope"], /no run "nope"/],
    [["down", "nope"], /no run "nope"/],
    [["down", "--timeout", "soon"], /--timeout/],
    [["pack"], /Name one package folder/],
    [["pack", "/nonexistent"], /Invalid package|manifest/],
    [["lab"], /meshbed lab up\|down\|list/],
    [["lab", "up", "web:moon"], /name:lan, name:wan or name:lan:user/],
    [["lab", "fly"], /got "fly"/],
  ])("%j exits 2", async (args, message) => {
    const result = await meshbed(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it("a service that fails to start exits 1, with its state line and its error", async () => {
    const file = path.join(tmp, "fails.yaml");
    fs.writeFileSync(
      file,
      "services:\n  ok:\n    target: { process: { binary: node, args: [-e, 'setInterval(() => {}, 1000)'] } }\n  job:\n    target:\n      process:\n        binary: sh\n        args: [-c, 'echo broken >&2; exit 4']\n    port: 0\n",
    );
    const result = await meshbed(["up", "-f", file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/job\s+failed: /);
    expect(result.stderr).toMatch(/exited with code 4[\s\S]*broken/);
  });
});

describe("meshbed up: the live state of each service", () => {
  it("without a TTY, prints a plain line per change, in start order", async () => {
    const child = spawn(process.execPath, [cli, "up", "-f", demo], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    await expect.poll(() => out, { timeout: 20_000, interval: 50 }).toMatch(/All 3 services are healthy/);
    expect(out).not.toContain("\u001b[");
    const states = out
      .split("\n")
      .filter((l) => /^ {2}\w+\s+(waiting|starting|healthy)/.test(l))
      .map((l) => l.trim().split(/\s+/).slice(0, 2).join(" "));
    expect(states.slice(0, 3)).toEqual(["db waiting", "api waiting", "web waiting"]);
    expect(states.indexOf("db healthy")).toBeLessThan(states.indexOf("api starting"));
    expect(states.indexOf("api healthy")).toBeLessThan(states.indexOf("web starting"));
    child.kill("SIGINT");
    expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(0);
  });

  it.runIf(hasCommand("script"))("on a TTY, rewrites each service's line in place with ANSI", async () => {
    // `script` gives the CLI a pseudo-terminal; the test reads what the terminal was sent.
    const typescript = path.join(tmp, "tty.out");
    const child = spawn("script", ["-qfec", `${process.execPath} ${cli} up -f ${demo}`, typescript], { stdio: ["pipe", "ignore", "ignore"] });
    children.push(child);
    const read = () => (fs.existsSync(typescript) ? fs.readFileSync(typescript, "utf8") : "");
    await expect.poll(read, { timeout: 20_000, interval: 50 }).toMatch(/All 3 services are healthy/);
    const tty = read();
    // Three lines made, then each rewritten: up to the line, clear it, write, back down.
    expect(tty).toMatch(/\u001b\[\d+A\r\u001b\[2K {2}db\s+\u001b\[33m… starting/);
    expect(tty).toMatch(/\u001b\[\d+A\r\u001b\[2K {2}web\s+\u001b\[32m✓ healthy\u001b\[0m 127\.0\.0\.1:\d+/);
    expect(tty.match(/ {2}db\s+\u001b\[90m· waiting/g)).toHaveLength(1);
    child.stdin!.write("\u0003");
    await new Promise((resolve) => child.once("exit", resolve));
    expect(read()).toContain("Stopped.");
  });

  it("StartProgress keeps a failed line, and writes plain lines after finish()", () => {
    let tty = "";
    const progress = new StartProgress({ write: (t: string) => (tty += t), isTTY: true });
    progress.update({ service: "a", state: "waiting" });
    progress.update({ service: "b", state: "waiting" });
    progress.update({ service: "a", state: "failed", error: new Error("exited with code 3\nlog") });
    progress.update({ service: "a", state: "stopped" });
    expect(tty).toContain("\u001b[2A\r\u001b[2K  a");
    expect(tty).toContain("✗ failed\u001b[0m: exited with code 3\u001b[2B\r");
    expect(tty).not.toContain("stopped");
    progress.finish();
    progress.update({ service: "b", state: "stopping" });
    expect(tty.endsWith("\u001b[33m… stopping\u001b[0m\n")).toBe(true);

    // A live line never wraps: a long error is cut to the terminal's width.
    let narrow = "";
    const cut = new StartProgress({ write: (t: string) => (narrow += t), isTTY: true, columns: 50 });
    cut.update({ service: "a", state: "failed", error: new Error("x".repeat(200)) });
    expect(narrow.replace(/\u001b\[[0-9;]*m/g, "").trimEnd()).toHaveLength(49);
    expect(narrow).toContain("x…");
  });
});

describe("--json", () => {
  it("up --json prints a JSON line per state change, the registry once up, then JSON log lines", async () => {
    const child = spawn(process.execPath, [cli, "up", "-f", demo, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    await expect.poll(() => out, { timeout: 20_000, interval: 50 }).toMatch(/"type":"log","service":"web"/);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ type: "state", service: "db", state: "waiting", addr: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    const up = lines.find((l) => l.type === "up") as { runId: string; registry: Record<string, { addr: string }> };
    expect(Object.keys(up.registry)).toEqual(["db", "api", "web"]);
    const log = lines.find((l) => l.type === "log" && l.service === "web")!;
    expect(log).toMatchObject({ stream: "stdout", line: expect.stringMatching(/^web listening on \d+$/), time: expect.any(String) });
    child.kill("SIGTERM");
    expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(0);
    expect(fs.existsSync(`/tmp/harness-${up.runId}`)).toBe(false);
  });

  it("up --detach --json, logs --json, env --json, status --json and down --json", async () => {
    const up = await meshbed(["up", "--detach", "--json", "-f", "services.yaml"], { cwd: path.dirname(demo) });
    expect(up.code).toBe(0);
    const { runId, registry } = JSON.parse(up.stdout) as { runId: string; registry: Record<string, { addr: string; target: string }> };
    try {
      expect(registry.api!.target).toBe("process");
      const logs = await meshbed(["logs", "--json", "--run", runId, "-n", "1", "api"]);
      expect(JSON.parse(logs.stdout.trim())).toEqual({ service: "api", line: expect.stringMatching(/^api listening on \d+$/) });
      const env = JSON.parse((await meshbed(["env", "api", "--json", "--run", runId])).stdout) as Record<string, string>;
      expect(env.DB_ADDR).toBe(registry.db!.addr);
      const [status] = JSON.parse((await meshbed(["status", "--json", "--run", runId])).stdout) as { services: { id: string }[] }[];
      const pids = status!.services.map((s) => Number(s.id.split(" ")[1]));
      const down = await meshbed(["down", runId, "--json"]);
      expect(JSON.parse(down.stdout)).toEqual({ runId, down: true, failed: [] });
      expect(pids.some(alive)).toBe(false);
    } finally {
      await meshbed(["down", runId]);
    }
  });
});

describe("meshbed pack", () => {
  it("builds the archive named by -o, and prints what it packed as --json", async () => {
    const dir = writePackageDir(greeterPackage(), tmp);
    const text = await meshbed(["pack", dir, "-o", "greeter.tar.gz"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Packed greeter 1\.2\.3 into .*greeter\.tar\.gz \(\d+ bytes\)/);
    expect(fs.statSync(path.join(tmp, "greeter.tar.gz")).size).toBeGreaterThan(100);
    const listing = spawnSync("tar", ["tzf", path.join(tmp, "greeter.tar.gz")], { encoding: "utf8" }).stdout;
    expect(listing).toMatch(/manifest\.yaml/);
    expect(listing).toMatch(/scripts\/start\.sh/);

    const json = await meshbed(["pack", dir, "--json"]);
    const result = JSON.parse(json.stdout) as { file: string; bytes: number; manifest: { name: string; version: string } };
    expect(result.file).toBe(path.join(tmp, "greeter-1.2.3.tar.gz"));
    expect(result.manifest).toMatchObject({ name: "greeter", version: "1.2.3" });
  });

  it("exits 2 naming the file and field of a bad manifest", async () => {
    const dir = writePackageDir(greeterPackage({ "manifest.yaml": "name: greeter\nversion: 1\nport: 1\ncolour: red\n" }), fs.mkdtempSync(path.join(tmp, "bad-")));
    const result = await meshbed(["pack", dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/manifest\.yaml: unknown field `colour`/);
  });
});

describe.runIf(labAvailable())("meshbed lab up|list|down", () => {
  it("creates nodes reachable over SSH, lists them, and destroys them", async () => {
    const id = `c${Math.random().toString(36).slice(2, 7)}`;
    try {
      const up = await meshbed(["lab", "up", "alpha:lan", "beta:wan", "--id", id, "--json"]);
      expect(up.code, up.stderr).toBe(0);
      const lab = JSON.parse(up.stdout) as { id: string; nodes: { name: string; namespace: string; host: string; user: string; identityFile: string; knownHostsFile: string }[] };
      expect(lab.id).toBe(id);
      expect(lab.nodes.map((n) => n.name)).toEqual(["alpha", "beta"]);
      const namespaces = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
      for (const node of lab.nodes) expect(namespaces).toContain(node.namespace);
      // The printed way in works: OpenSSH, the lab's key, strict host key checking.
      const alpha = lab.nodes[0]!;
      if (hasCommand("ssh")) {
        const ssh = spawnSync(
          "ssh",
          ["-i", alpha.identityFile, "-o", `UserKnownHostsFile=${alpha.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", `${alpha.user}@${alpha.host}`, "echo", "inside"],
          { encoding: "utf8", timeout: 20_000 },
        );
        expect(ssh.stdout.trim(), ssh.stderr).toBe("inside");
      }
      const list = JSON.parse((await meshbed(["lab", "list", "--json"])).stdout) as { id: string }[];
      expect(list.map((l) => l.id)).toContain(id);
      const text = await meshbed(["lab", "list"]);
      expect(text.stdout).toContain(`lab ${id}:`);

      const down = await meshbed(["lab", "down", id, "--json"]);
      expect(JSON.parse(down.stdout)).toEqual({ destroyed: [id] });
      const after = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
      for (const node of lab.nodes) expect(after).not.toContain(node.namespace);
    } finally {
      await meshbed(["lab", "down", id]);
    }
  }, 120_000);
});
