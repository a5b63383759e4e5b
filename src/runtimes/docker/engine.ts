import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { StartError } from "../../errors.js";
import { HarnessError } from "../../errors.js";

/** A Docker engine that answered, and where it is. */
export interface Engine {
  readonly docker: Docker;
  /** Where the engine was reached, for messages: "unix:///var/run/docker.sock", "tcp://10.0.0.5:2375". */
  readonly endpoint: string;
  /** Whether the engine runs on this host (a unix socket, or TCP to loopback): it can bind-mount host files. */
  readonly local: boolean;
}

const PING_TIMEOUT_MS = 10_000;

/**
 * Connects to the engine the Docker CLI would use: `DOCKER_HOST` (`unix://`, `tcp://`, `ssh://user@host`,
 * with `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` for TLS), else the user's Docker Desktop socket, else
 * `/var/run/docker.sock`. Pings it, so that a missing engine is reported before anything is created.
 */
export async function connectEngine(services: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
  const endpoint = engineEndpoint(env);
  let docker: Docker;
  try {
    // docker-modem reads DOCKER_HOST and the TLS variables itself, exactly as the CLI does.
    docker = endpoint.startsWith("unix://") ? new Docker({ socketPath: endpoint.slice("unix://".length) }) : new Docker();
  } catch (error) {
    throw unavailable(endpoint, services, (error as Error).message, error);
  }
  const timeout = AbortSignal.timeout(PING_TIMEOUT_MS);
  try {
    await Promise.race([
      // The types lack ping's options; dockerode passes `abortSignal` on to the request.
      (docker.ping as unknown as (options: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: timeout }),
      new Promise((_, reject) => timeout.addEventListener("abort", () => reject(new HarnessError(`no answer within ${PING_TIMEOUT_MS} ms`, { code: "E_DOCKER_UNAVAILABLE" })))),
    ]);
  } catch (error) {
    throw unavailable(endpoint, services, describe(error), error);
  }
  return { docker, endpoint, local: isLocal(endpoint) };
}

/** The engine's address as the CLI would resolve it. */
export function engineEndpoint(env: NodeJS.ProcessEnv): string {
  const host = env.DOCKER_HOST?.trim();
  if (host) return host.includes("://") ? host : `tcp://${host}`;
  const desktop = path.join(os.homedir(), ".docker", "run", "docker.sock");
  return `unix://${fs.existsSync(desktop) ? desktop : "/var/run/docker.sock"}`;
}

function isLocal(endpoint: string): boolean {
  if (endpoint.startsWith("unix://")) return true;
  try {
    return ["localhost", "127.0.0.1", "[::1]"].includes(new URL(endpoint).hostname) && !endpoint.startsWith("ssh://");
  } catch {
    return false;
  }
}

function unavailable(endpoint: string, services: readonly string[], reason: string, cause: unknown): StartError {
  const who = services.length === 1 ? `service "${services[0]}"` : `services ${services.map((s) => `"${s}"`).join(", ")}`;
  const fix = endpoint.startsWith("unix://")
    ? "start one (`sudo systemctl start docker`, `sudo dockerd &`, or scripts/system/docker.sh in this repository), or point DOCKER_HOST at a running engine (unix:///path/to/docker.sock, tcp://host:2375, ssh://user@host)"
    : "check that the engine runs there and that DOCKER_HOST is right, or unset DOCKER_HOST to use the local socket";
  return new StartError(`No Docker engine answers at ${endpoint} (${reason}), needed by ${who}: ${fix}`, {
    code: "E_DOCKER_UNAVAILABLE",
    service: services[0],
    cause,
  });
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { statusCode?: number; json?: { message?: string } };
  if (e.code === "ENOENT") return "no such socket";
  if (e.code === "EACCES") return "permission denied: run as root or join the `docker` group";
  if (e.code) return e.code;
  return e.json?.message ?? e.message;
}

/** The HTTP status of an engine error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** The engine's own message of an error, without dockerode's "(HTTP code 404) no such container -" prefix. */
export function engineMessage(error: unknown): string {
  const e = error as Error & { json?: { message?: string } | string | null; reason?: string };
  if (e.json && typeof e.json === "object" && typeof e.json.message === "string") return e.json.message;
  return e.message.replace(/^\(HTTP code \d+\) [^-]*- /, "").trim();
}
