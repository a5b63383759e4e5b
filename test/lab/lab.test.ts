import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab, labDown, labUp, parseNodeSpec } from "../../src/public/lab.js";
import { fixture } from "../support/process-tracker.js";
import { labAvailable, waitFor } from "../support/lab.js";
import { alive } from "../support/process-tracker.js";

const run = promisify(execFile);

/** Runs a command on a node with the system's own OpenSSH client, as a person would. */
async function ssh(node: ReturnType<Lab["node"]>, command: string): Promise<string> {
  const args = ["-i", node.identityFile, "-o", `UserKnownHostsFile=${node.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"];
  const { stdout } = await run("ssh", [...args, `${node.user}@${node.host}`, command]);
  return stdout;
}

function tcpReachable(lab: Lab, from: string, ip: string, port: number): Promise<boolean> {
  // A connect with bash's /dev/tcp from inside the node, 2 s at most.
  return lab.exec(from, ["timeout", "2", "bash", "-c", `exec 3<>/dev/tcp/${ip}/${port}`]).then((r) => r.code === 0);
}

async function leftovers(id: string): Promise<string[]> {
  const { stdout: namespaces } = await run("ip", ["netns", "list"]);
  const { stdout: links } = await run("ip", ["-o", "link", "show"]);
  return [...namespaces.split("\n"), ...links.split("\n")].filter((l) => l.includes(`mb-${id}-`));
}

describe.skipIf(!labAvailable())("the lab", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({
      nodes: [
        { name: "alpha", network: "lan" },
        { name: "beta", network: "lan", user: "mbuser" },
        { name: "far", network: "wan" },
      ],
    });
  });
  afterAll(() => lab?.destroy());

  it("gives every node a real sshd that OpenSSH's own client verifies and logs in to", async () => {
    for (const node of Object.values(lab.nodes)) {
      expect(node.namespace).toBe(`mb-${lab.id}-${node.name}`);
      expect((await ssh(node, "id -un")).trim()).toBe(node.user);
    }
    expect(fs.readFileSync(lab.node("alpha").knownHostsFile, "utf8")).toContain(lab.node("alpha").hostKey.split(" ")[1]);
  });

  it("gives each node private /tmp, /opt/harness, /run and home, and its non-root user sudo", async () => {
    const alpha = lab.node("alpha");
    const beta = lab.node("beta");
    await ssh(alpha, "echo alpha > /tmp/mine && echo alpha > /opt/harness/mine && echo alpha > ~/mine");
    expect(await ssh(beta, "cat /tmp/mine /opt/harness/mine ~/mine 2>/dev/null; true")).toBe("");
    expect(fs.existsSync("/tmp/mine")).toBe(false);
    expect((await ssh(alpha, "cat /tmp/mine /opt/harness/mine ~/mine")).split("\n").filter(Boolean)).toEqual(["alpha", "alpha", "alpha"]);
    // A minimal home: no shell start-up files that cost time on every exec.
    expect((await ssh(beta, "ls -A ~ | wc -l")).trim()).toBe("0");
    expect((await ssh(beta, "sudo -n id -u")).trim()).toBe("0");
    expect((await ssh(beta, "ls /run")).split("\n")).not.toContain("docker.sock");
  });

  it("puts LAN nodes on a bridge with the host, and WAN nodes behind a route, with no way between them", async () => {
    const alpha = lab.node("alpha");
    const beta = lab.node("beta");
    const far = lab.node("far");
    expect(alpha.hostIp).not.toBe(far.hostIp);
    // The host reaches every node's sshd; LAN nodes reach each other and the host's LAN address.
    for (const node of [alpha, beta, far]) expect(await canConnect(node.host, 22)).toBe(true);
    expect(await tcpReachable(lab, "alpha", beta.host, 22)).toBe(true);
    // The WAN node reaches the host (its WireGuard hub endpoint) at its own address toward it.
    const server = net.createServer((s) => s.end()).listen(0, "0.0.0.0");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await tcpReachable(lab, "far", far.hostIp, port)).toBe(true);
      expect(await tcpReachable(lab, "alpha", alpha.hostIp, port)).toBe(true);
      // LAN and WAN cannot reach each other, nor each other's view of the host.
      expect(await tcpReachable(lab, "alpha", far.host, 22)).toBe(false);
      expect(await tcpReachable(lab, "far", alpha.host, 22)).toBe(false);
      expect(await tcpReachable(lab, "far", alpha.hostIp, port)).toBe(false);
    } finally {
      server.close();
    }
  });

  it("chooses subnets that overlap no route of the host", async () => {
    const { stdout } = await run("ip", ["-4", "route"]);
    expect(stdout).toContain(`${lab.subnets.lan} dev mb-${lab.id}-lan`);
    expect(stdout).toContain(`${lab.subnets.wan} via`);
    expect(lab.subnets.lan.startsWith("192.0.2.")).toBe(false);
  });

  it("counts the SSH connections a node has open", async () => {
    expect(await lab.sshConnections("alpha")).toBe(0);
    const client = spawn("ssh", ["-i", lab.node("alpha").identityFile, "-o", `UserKnownHostsFile=${lab.node("alpha").knownHostsFile}`, `root@${lab.node("alpha").host}`, "sleep 30"]);
    try {
      await waitFor("one connection", async () => (await lab.sshConnections("alpha")) === 1);
    } finally {
      client.kill();
    }
    await waitFor("no connection", async () => (await lab.sshConnections("alpha")) === 0);
  });
});

describe.skipIf(!labAvailable())("lab teardown", () => {
  it("leaves no namespace, link, process, account or file", async () => {
    const lab = await Lab.create({
      nodes: [
        { name: "one", network: "lan", user: "mbteardown" },
        { name: "two", network: "wan" },
      ],
    });
    const pids = [...(await lab.pids("one")), ...(await lab.pids("two"))];
    // A process started on the node, detached from its SSH session, goes too.
    await lab.exec("one", ["sh", "-c", "setsid -f sleep 300 < /dev/null > /dev/null 2>&1"]);
    const withSleep = await lab.pids("one");
    expect(withSleep.length).toBeGreaterThan(1);
    expect(await leftovers(lab.id)).not.toEqual([]);
    await lab.destroy();
    expect(await leftovers(lab.id)).toEqual([]);
    for (const pid of [...pids, ...withSleep]) expect(alive(pid)).toBe(false);
    expect(fs.existsSync(`/run/meshbed-lab/${lab.id}`)).toBe(false);
    await expect(run("getent", ["passwd", "mbteardown"])).rejects.toThrow();
    const { stdout } = await run("ip", ["-4", "route"]);
    expect(stdout).not.toContain(lab.subnets.wan);
  });

  it("reaps a crashed lab's leftovers on the next create", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", fixture("lab-crash.mts")], { stdio: ["ignore", "pipe", "inherit"] });
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
      child.once("exit", (code) => reject(new Error(`the crashing child exited early (${code})`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(await leftovers(id)).not.toEqual([]);
    const next = await Lab.create({ nodes: [{ name: "after", network: "lan" }] });
    try {
      expect(await leftovers(id)).toEqual([]);
      expect(fs.existsSync(`/run/meshbed-lab/${id}`)).toBe(false);
      await expect(run("getent", ["passwd", "mbcrash"])).rejects.toThrow();
    } finally {
      await next.destroy();
    }
  });

  it("keeps a lab made by `lab up` until `lab down`", async () => {
    const lab = await labUp({ nodes: [parseNodeSpec("kept:lan")] });
    try {
      expect(await Lab.reap()).not.toContain(lab.id);
      expect(Lab.list().map((l) => l.id)).toContain(lab.id);
    } finally {
      expect(await labDown(lab.id)).toEqual([lab.id]);
    }
    expect(await leftovers(lab.id)).toEqual([]);
  });

  it("says that it needs root, to a user without it", async () => {
    const { stdout } = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--import", "tsx", fixture("lab-nonroot.mts")], {
      env: { ...process.env, HOME: "/tmp" },
    });
    expect(stdout.trim()).toBe("E_LAB: The lab needs root (it creates network namespaces, links and mounts): run the tests as root, or under sudo");
  });

  it("refuses bad node names before creating anything", async () => {
    await expect(Lab.create({ nodes: [{ name: "Bad Name", network: "lan" }] })).rejects.toThrow(/nodes\[0\]\.name/);
    await expect(Lab.create({ nodes: [{ name: "x", network: "moon" as "lan" }] })).rejects.toThrow(/"lan" or "wan"/);
  });
});

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}
