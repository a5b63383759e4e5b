import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderEnvFile } from "../../../src/plan/env-file.js";
import { FrameReader } from "../../../src/runtimes/ssh/remote-logs.js";
import { SETUP_TIMED_OUT, execInDirCommand, pollLogsCommand, setupCommand, systemRequiresCommand } from "../../../src/runtimes/ssh/remote-script.js";

const HOSTILE = `$(touch pwned) \`touch pwned2\` '"; touch pwned3; echo "\n$HOME ; x \\ *`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed it's $(x) "));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Whether a process is dead: no more, or a zombie that its new parent (this machine's PID 1) has not reaped yet. */
function gone(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return true;
  }
}

/** Whether a process is dead within a second (SIGKILL is delivered after `kill` returns). */
async function goneSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && !gone(pid); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return gone(pid);
}

/** Runs a generated script with dash, as a node's /bin/sh would. */
function sh(script: string): { stdout: Buffer; code: number } {
  try {
    return { stdout: execFileSync("sh", ["-c", script], { cwd: os.tmpdir() }), code: 0 };
  } catch (error) {
    const e = error as { stdout: Buffer; status: number };
    return { stdout: e.stdout, code: e.status };
  }
}

describe("the scripts run on nodes", () => {
  it("pass argv and env through the shell literally", () => {
    fs.writeFileSync(path.join(dir, "service.env"), renderEnvFile({ HOSTILE }));
    const out = sh(execInDirCommand(dir, ["sh", "-c", 'printf "%s|%s" "$1" "$HOSTILE"', "sh", HOSTILE])).stdout.toString();
    expect(out).toBe(`${HOSTILE}|${HOSTILE}`);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("pwned"))).toEqual([]);
    expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("pwned"))).toEqual([]);
  });

  it("list what a node lacks of system_requires, paths and commands alike", () => {
    const out = sh(systemRequiresCommand(["/bin/sh", "sh", "/no/such/file", "no-such-command", HOSTILE])).stdout.toString();
    expect(out.split("\n").filter(Boolean)).toEqual(["/no/such/file", "no-such-command", ...HOSTILE.split("\n")]);
  });

  it("poll logs in frames from where the last look stopped, and say when the service is gone", () => {
    fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
    fs.writeFileSync(path.join(dir, "logs", "stdout.log"), "first\nsecond\n");
    fs.writeFileSync(path.join(dir, "logs", "stderr.log"), "oops\n");
    const seen: [string, string][] = [];
    const offsets: Record<string, number> = {};
    const read = (pgid: number) => {
      const { stdout, code } = sh(pollLogsCommand(dir, pgid, offsets));
      new FrameReader((file, bytes) => {
        offsets[file] = (offsets[file] ?? 0) + bytes.length;
        seen.push([file, bytes.toString()]);
      }).push(stdout);
      return code;
    };
    const mine = Number(
      execFileSync("ps", ["-o", "pgid=", "-p", String(process.pid)])
        .toString()
        .trim(),
    );
    expect(read(mine)).toBe(0);
    expect(seen).toEqual([
      ["logs/stderr.log", "oops\n"],
      ["logs/stdout.log", "first\nsecond\n"],
    ]);
    fs.appendFileSync(path.join(dir, "logs", "stdout.log"), "third\n");
    seen.length = 0;
    // A group that does not exist: the service is gone (exit 3), and the last bytes still come.
    expect(read(2 ** 22 + 7)).toBe(3);
    expect(seen).toEqual([["logs/stdout.log", "third\n"]]);
  });

  it("run setup.sh with the service's env and its args, its output appended to logs/setup.log, and end what it left running", async () => {
    const setup = path.join(dir, "scripts", "setup.sh");
    fs.mkdirSync(path.dirname(setup), { recursive: true });
    fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
    fs.writeFileSync(path.join(dir, "service.env"), renderEnvFile({ HOSTILE }));
    const marker = path.join(dir, "left-running.pid");
    fs.writeFileSync(setup, `#!/bin/sh\nprintf '%s|%s|%s\\n' "$1" "$2" "$HOSTILE"\nsleep 30 & echo $! > left-running.pid\necho oops >&2\nexit 5\n`, { mode: 0o755 });
    const envFile = `${dir}/service.env`;
    const failed = sh(setupCommand(dir, envFile, 5_000));
    expect(failed.code).toBe(5);
    expect(fs.readFileSync(path.join(dir, "logs", "setup.log"), "utf8")).toBe(`${dir}|${envFile}|${HOSTILE}\noops\n`);
    expect(await goneSoon(Number(fs.readFileSync(marker, "utf8")))).toBe(true);
    expect(fs.existsSync(path.join(dir, ".setup.pgid"))).toBe(false);

    fs.writeFileSync(setup, `#!/bin/sh\necho slow\nsleep 30 & echo $! > left-running.pid\nsleep 20\n`, { mode: 0o755 });
    const begun = Date.now();
    const slow = sh(setupCommand(dir, envFile, 300));
    expect(Date.now() - begun).toBeLessThan(3_000);
    expect(slow.code).toBe(124);
    expect(slow.stdout.toString().trim()).toBe(SETUP_TIMED_OUT);
    expect(await goneSoon(Number(fs.readFileSync(marker, "utf8")))).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("pwned"))).toEqual([]);
  });

  it("reads frames split anywhere", () => {
    const got: string[] = [];
    const reader = new FrameReader((file, bytes) => got.push(`${file}:${bytes.toString()}`));
    const text = Buffer.from("MBLOG logs/a b.log 5\nhelloMBLOG logs/x.log 3\nMBLMBLOG logs/y.log 1\n\n");
    for (const byte of text) reader.push(Buffer.from([byte]));
    expect(got.join("")).toBe("logs/a b.log:hlogs/a b.log:elogs/a b.log:llogs/a b.log:llogs/a b.log:ologs/x.log:Mlogs/x.log:Blogs/x.log:Llogs/y.log:\n");
  });
});
