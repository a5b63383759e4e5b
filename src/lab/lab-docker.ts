import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../errors.js";
import { processAlive } from "./lab-state.js";

export const DOCKERD = "/usr/sbin/dockerd";

/** Where a node's engine listens inside the node: the path a Docker CLI (and meshbed over SSH) looks at first. */
export const NODE_DOCKER_SOCKET = "/var/run/docker.sock";

/**
 * Runs inside the node's network and mount namespaces (those of its sshd, entered with nsenter):
 * `ip netns exec` gave the node a fresh /sys without cgroups, which dockerd needs ("Devices cgroup
 * isn't mounted"); the mount stays the node's. The node's /run is its own tmpfs, so the engine's
 * socket, exec-root and containerd are the node's alone; the data-root is under the node's dir.
 * The engine also listens on a socket in the node's dir, which the harness host sees at the same
 * path (for tests and `docker -H`).
 */
const DOCKERD_SCRIPT = String.raw`set -eu
dir=$1
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 mb-cgroup /sys/fs/cgroup
mkdir -p "$dir/docker"
exec ${DOCKERD} --data-root "$dir/docker" --exec-root /run/docker-exec --pidfile /run/dockerd.pid \
  -H unix://${NODE_DOCKER_SOCKET} -H "unix://$dir/docker.sock" --shutdown-timeout 2 --log-level warn
`;

/** The socket of a node's engine as the harness host reaches it (without SSH). */
export function hostDockerSocket(dir: string): string {
  return path.join(dir, "docker.sock");
}

/** Starts the node's dockerd; resolves its pid once its API answers. */
export async function startNodeDockerd(node: { namespace: string; dir: string; sshdPid: number }, onPid: (pid: number) => void): Promise<number> {
  const log = path.join(node.dir, "dockerd.log");
  const fd = fs.openSync(log, "a", 0o600);
  const argv = ["-t", String(node.sshdPid), "-n", "-m", "--", "sh", "-c", DOCKERD_SCRIPT, "sh", node.dir];
  // nsenter execs (no fork without -p), and sh execs dockerd: the child's pid is the engine's.
  const child = spawn("nsenter", argv, { detached: true, stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new HarnessError(`dockerd of lab node ${node.namespace} could not be started`, { code: "E_LAB" });
  onPid(pid);
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  const socket = hostDockerSocket(node.dir);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (await pings(socket)) return pid;
    if (exited !== undefined || !processAlive(pid) || Date.now() > deadline) {
      const why = exited !== undefined ? `exited with code ${exited}` : "did not answer within 30 s";
      const text = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").slice(-20).join("\n") : "";
      throw new HarnessError(`dockerd of lab node ${node.namespace} ${why}; its log (${log}):\n${text}`, { code: "E_LAB" });
    }
    await sleep(50);
  }
}

/**
 * Stops the node's dockerd: its containers killed first (their processes are in namespaces of their
 * own and would outlive a kill of the node's; the lab ends, so no grace), then SIGTERM, SIGKILL after `graceMs`.
 */
export async function stopNodeDockerd(pid: number, dir: string, graceMs = 15_000): Promise<void> {
  if (!processAlive(pid)) return;
  const socket = hostDockerSocket(dir);
  const running = await request(socket, "GET", "/containers/json").catch(() => "[]");
  const ids = (JSON.parse(running) as { Id: string }[]).map((c) => c.Id);
  await Promise.all(ids.map((id) => request(socket, "POST", `/containers/${id}/kill`).catch(() => "")));
  signal(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < deadline) await sleep(50);
  if (processAlive(pid)) signal(pid, "SIGKILL");
  while (processAlive(pid)) await sleep(20);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

/** One request to the engine's API; resolves the body of a 2xx answer. */
function request(socket: string, method: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: url, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if ((response.statusCode ?? 500) < 300) resolve(body);
        else reject(new HarnessError(`${method} ${url}: ${response.statusCode} ${body.trim()}`, { code: "E_LAB" }));
      });
    });
    req.once("error", reject);
    req.once("timeout", () => req.destroy(new HarnessError(`${method} ${url}: no answer within 5 s`, { code: "E_LAB" })));
    req.end();
  });
}

/** Whether an engine answers `GET /_ping` on the socket. */
export function pings(socket: string): Promise<boolean> {
  if (!fs.existsSync(socket)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const request = http.get({ socketPath: socket, path: "/_ping", timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.once("error", () => resolve(false));
    request.once("timeout", () => {
      request.destroy();
      resolve(false);
    });
  });
}
