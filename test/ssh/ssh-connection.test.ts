import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HarnessError } from "../../src/errors.js";
import type { Lab, LabNode } from "../../src/public/lab.js";
import type { SshConnection } from "../../src/ssh/ssh-connection.js";
import { resolveDestination } from "../../src/ssh/ssh-destination.js";
import type { SshOptions } from "../../src/runtimes/ssh/ssh-options.js";
import { SshPool } from "../../src/ssh/ssh-pool.js";
import { killSessions, labAvailable, nodeProcesses, waitFor } from "../support/lab.js";

const run = promisify(execFile);

describe.skipIf(!labAvailable())("the SSH layer against real sshd", () => {
  let lab: Lab;
  let tmp: string;
  const pool = new SshPool();
  const opened: SshConnection[] = [];

  function connect(node: LabNode, ssh: SshOptions = node.ssh, user = node.user, host = node.host): SshConnection {
    const connection = pool.acquire(resolveDestination(host, user, ssh));
    opened.push(connection);
    return connection;
  }

  beforeAll(async () => {
    const { Lab } = await import("../../src/public/lab.js");
    lab = await Lab.create({
      nodes: [
        { name: "a", network: "lan" },
        { name: "b", network: "lan", user: "mbuser" },
      ],
    });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-ssh-"));
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) await pool.release(c);
  });
  afterAll(async () => {
    await lab?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("runs commands with streamed stdout and stderr and their exit codes", async () => {
    const c = connect(lab.node("a"));
    const out: string[] = [];
    const err: string[] = [];
    const result = await c.exec("echo one; echo two >&2; sleep 0.2; echo three; exit 7", {
      onStdout: (chunk) => out.push(chunk.toString()),
      onStderr: (chunk) => err.push(chunk.toString()),
    });
    expect(result).toEqual({ code: 7, signal: null });
    expect(out.join("")).toBe("one\nthree\n");
    expect(err.join("")).toBe("two\n");
    expect((await c.run("cat", { stdin: "fed through stdin" })).stdout).toBe("fed through stdin");
  });

  it("kills a remote command when its signal aborts", async () => {
    const c = connect(lab.node("a"));
    const started = Date.now();
    const result = await c.exec("sleep 30", { signal: AbortSignal.timeout(300) });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.code).toBeNull();
    await waitFor("the remote sleep to be gone", async () => !(await nodeProcesses(lab, "a")).some((p) => p.command === "sleep"));
  });

  it("shares one connection among many concurrent channels, beyond OpenSSH's 10 sessions", async () => {
    const c = connect(lab.node("a"));
    const again = connect(lab.node("a"));
    expect(again).toBe(c);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => c.run(`sleep 0.1; echo ${i}`)));
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(await lab.sshConnections("a")).toBe(1);
    expect(c.handshakes).toBe(1);
  });

  it("uploads files (keeping modes) and directories over sftp, and writes 0600 files", async () => {
    const c = connect(lab.node("b"));
    const dir = path.join(tmp, "tree");
    fs.mkdirSync(path.join(dir, "sub"), { recursive: true });
    fs.writeFileSync(path.join(dir, "run.sh"), "#!/bin/sh\necho ran\n", { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "sub", "data.txt"), "x".repeat(100_000));
    await c.upload(dir, "/tmp/tree");
    expect((await c.run("/tmp/tree/run.sh")).stdout).toBe("ran\n");
    expect((await c.run("wc -c < /tmp/tree/sub/data.txt")).stdout.trim()).toBe("100000");
    await c.writeFile("/tmp/secret.env", "TOKEN=x\n");
    expect((await c.run("stat -c '%a %U' /tmp/secret.env")).stdout.trim()).toBe("600 mbuser");
    await c.upload(path.join(dir, "run.sh"), "/tmp/single.sh");
    expect((await c.run("stat -c %a /tmp/single.sh")).stdout.trim()).toBe("755");
  });

  it("refuses a host key that changed, naming the host, both keys and the file", async () => {
    const node = lab.node("a");
    const known = path.join(tmp, "changed_known_hosts");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(tmp, "impostor")]);
    const impostor = fs.readFileSync(path.join(tmp, "impostor.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(known, `${node.host} ${impostor}\n`);
    for (const strict of ["yes", "accept-new"] as const) {
      const c = connect(node, { ...node.ssh, knownHostsFile: known, strictHostKeyChecking: strict });
      const error = await c.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(HarnessError);
      expect((error as HarnessError).code).toBe("E_SSH_HOST_KEY");
      expect((error as Error).message).toContain(`host key of ${node.host}:22 has CHANGED`);
      expect((error as Error).message).toContain(`${known}:1`);
      expect((error as Error).message).toContain(fingerprintOf(node.hostKey));
      await pool.release(opened.pop()!);
    }
  });

  it("refuses an unknown host key by default, adds it with accept-new, and then trusts it", async () => {
    const node = lab.node("b");
    const known = path.join(tmp, "new_known_hosts");
    const strict = connect(node, { ...node.ssh, knownHostsFile: known });
    await expect(strict.connect()).rejects.toThrow(new RegExp(`host key of ${node.host}:22 \\(ssh-ed25519 SHA256:.+\\) is not in ${known}`));
    await pool.release(opened.pop()!);
    const accepting = connect(node, { ...node.ssh, knownHostsFile: known, strictHostKeyChecking: "accept-new" });
    await accepting.connect();
    await pool.release(opened.pop()!);
    expect(fs.readFileSync(known, "utf8")).toContain(`${node.host} ${node.hostKey.split(" ").slice(0, 2).join(" ")}`);
    const later = connect(node, { ...node.ssh, knownHostsFile: known, strictHostKeyChecking: "yes" });
    await later.connect();
  });

  it("fails a wrong client key with an error that names the key it tried", async () => {
    const node = lab.node("b");
    const wrong = path.join(tmp, "wrong_key");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "the-wrong-one", "-f", wrong]);
    const c = connect(node, { ...node.ssh, identityFile: wrong });
    const error = (await c.connect().then(
      () => undefined,
      (e: unknown) => e,
    )) as HarnessError;
    expect(error.code).toBe("E_SSH_AUTH");
    expect(error.message).toContain(`SSH login to mbuser@${node.host} was refused`);
    expect(error.message).toContain(`tried key ${wrong} (ED25519 SHA256:`);
    expect(error.message).toContain("the-wrong-one");
    await pool.release(opened.pop()!);
    const missing = connect(node, { ...node.ssh, identityFile: path.join(tmp, "nope") });
    await expect(missing.connect()).rejects.toThrow(/SSH key file .*nope .*cannot be read: ENOENT/);
  });

  it("logs in with a key given as text, and with ssh-agent", async () => {
    const node = lab.node("a");
    const c = connect(node, { knownHostsFile: node.knownHostsFile, privateKey: node.privateKey });
    expect((await c.run("echo text-key")).stdout).toBe("text-key\n");
    await pool.release(opened.pop()!);

    const socket = path.join(tmp, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    const saved = { sock: process.env.SSH_AUTH_SOCK, home: process.env.HOME };
    try {
      await waitFor("ssh-agent's socket", () => fs.existsSync(socket));
      await run("ssh-add", [node.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      process.env.SSH_AUTH_SOCK = socket;
      // An empty home: no default key files, only the agent can log in.
      process.env.HOME = tmp;
      const viaAgent = connect(node, { knownHostsFile: node.knownHostsFile, configFile: "/dev/null" });
      expect((await viaAgent.run("echo agent")).stdout).toBe("agent\n");
    } finally {
      restoreEnv("SSH_AUTH_SOCK", saved.sock);
      restoreEnv("HOME", saved.home);
      stop(agent);
    }
  });

  it("follows ~/.ssh/config aliases: HostName, User, Port, IdentityFile, UserKnownHostsFile, ProxyJump", async () => {
    const a = lab.node("a");
    const b = lab.node("b");
    const config = path.join(tmp, "ssh_config");
    fs.writeFileSync(
      config,
      [
        "Host jump",
        `  HostName ${a.host}`,
        "  User root",
        "Host target-*",
        `  IdentityFile ${a.identityFile}`,
        `  UserKnownHostsFile ${a.knownHostsFile}`,
        "Host target-b",
        `  HostName ${b.host}`,
        "  User mbuser",
        "  Port 22",
        "  ProxyJump jump",
        "Host jump",
        `  IdentityFile ${a.identityFile}`,
        `  UserKnownHostsFile ${a.knownHostsFile}`,
        "",
      ].join("\n"),
    );
    const c = connect(b, { configFile: config }, undefined, "target-b");
    expect(c.destination).toMatchObject({ hostName: b.host, user: "mbuser", port: 22, proxyJump: "jump" });
    expect((await c.run("id -un")).stdout).toBe("mbuser\n");
    // b saw the connection come from a (the jump host), not from the harness host.
    expect(fs.readFileSync(b.sshdLog, "utf8")).toMatch(new RegExp(`Accepted publickey for mbuser from ${a.host.replace(/\./g, "\\.")} `));
    expect(await lab.sshConnections("a")).toBe(1);
  });

  it("re-establishes a dropped connection, and says so", async () => {
    const c = connect(lab.node("a"));
    const events: string[] = [];
    c.on("dropped", (reason) => events.push(`dropped: ${reason}`));
    c.on("reconnected", (n) => events.push(`reconnected after ${n}`));
    await c.connect();
    // Kill the node's per-connection sshd processes: the connection breaks as on a network failure.
    await killSessions(lab, "a");
    await waitFor("the drop to be noticed", () => events.length > 0);
    expect((await c.run("echo back")).stdout).toBe("back\n");
    expect(events[0]).toMatch(/^dropped/);
    expect(events[1]).toMatch(/^reconnected after 1/);
    expect(c.handshakes).toBe(2);
  });

  it("uses sudo -n for a non-root user where root is needed", async () => {
    const c = connect(lab.node("b"));
    expect((await c.run("id -u")).stdout.trim()).not.toBe("0");
    expect((await c.runAsRoot("id -u; echo \"$0\" 'quoted'")).stdout).toBe("0\nsh quoted\n");
    const root = connect(lab.node("a"));
    expect((await root.runAsRoot("id -u")).stdout.trim()).toBe("0");
  });
});

function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.split(" ")[1]!, "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function stop(child: ChildProcess): void {
  child.kill("SIGTERM");
}
