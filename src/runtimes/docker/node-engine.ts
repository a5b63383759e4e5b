import http from "node:http";
import type { Duplex } from "node:stream";
import Docker from "dockerode";
import { debugFor } from "../../debug.js";
import { StartError } from "../../errors.js";
import { shellQuote } from "../../host/shell-quote.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";
import type { Engine } from "./engine.js";

/** Where a node's engine listens, as the Docker CLI on the node looks first. */
export const NODE_DOCKER_SOCKET = "/var/run/docker.sock";

const PING_TIMEOUT_MS = 10_000;
const log = debugFor("docker");

/**
 * An HTTP agent whose every connection is a channel to the node's engine socket over the node's one
 * pooled SSH connection (no second connection, no TCP port opened on the node). Keep-alive (a
 * request on an open channel costs no channel open), but at most one idle channel: each holds one of
 * the connection's few sessions.
 */
class NodeSocketAgent extends http.Agent {
  constructor(private readonly open: () => Promise<Duplex>) {
    // No limit of its own: the connection's (MAX_CHANNELS) makes requests wait, and a limit here below it could hold them behind log follows.
    super({ keepAlive: true, maxFreeSockets: 1 });
  }

  override createConnection(_options: http.ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): undefined {
    this.open().then(
      (stream) => callback?.(null, asSocket(stream)),
      (error: Error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** http's client calls a few net.Socket methods that an SSH channel lacks: they mean nothing on a channel. */
function asSocket(stream: Duplex): Duplex {
  const socket = stream as Duplex & Record<string, unknown>;
  for (const name of ["setKeepAlive", "setNoDelay", "setTimeout", "ref", "unref"]) {
    if (typeof socket[name] !== "function") socket[name] = () => socket;
  }
  return socket;
}

/**
 * A byte pipe to the engine's socket through `sudo -n`, for a login user who may not open the socket
 * (not root, not in the `docker` group) but may use sudo without a password: the Docker CLI's own
 * bridge where the node has one, else socat, else `nc -U`.
 */
export function sudoBridgeCommand(socketPath: string): string {
  const bridge = `if command -v docker >/dev/null 2>&1; then exec docker -H ${shellQuote(`unix://${socketPath}`)} system dial-stdio
elif command -v socat >/dev/null 2>&1; then exec socat - UNIX-CONNECT:${shellQuote(socketPath)}
else exec nc -U ${shellQuote(socketPath)}; fi`;
  return `sudo -n sh -c ${shellQuote(bridge)}`;
}

/** Every piece of an answer is acknowledged at once: the engine writes an answer in pieces, which sshd would hold back (see `acknowledge`). */
function acknowledging(stream: Duplex, connection: SshConnection): Duplex {
  stream.on("data", () => connection.acknowledge());
  return stream;
}

/** What the login user may do with the socket: "missing" (no socket there), "denied" (one it may not open), or "usable". */
async function socketAccess(connection: SshConnection, socketPath: string): Promise<"missing" | "denied" | "usable"> {
  const p = shellQuote(socketPath);
  const result = await connection.run(`if [ ! -S ${p} ]; then echo missing; elif [ -r ${p} ] && [ -w ${p} ]; then echo usable; else echo denied; fi`).catch(() => undefined);
  const answer = result?.stdout.trim();
  return answer === "missing" || answer === "denied" ? answer : "usable";
}

function ping(docker: Docker): Promise<unknown> {
  return Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref())]);
}

/**
 * The Docker engine of a node, reached over its pooled SSH connection: its socket opened directly
 * (`direct-streamlocal`), or, when the login user may not open it, through a `sudo -n` bridge. Pings
 * it, so that a node without an engine is reported (naming the node, saying what to do) before
 * anything is created.
 */
export async function connectNodeEngine(connection: SshConnection, services: readonly string[], socketPath = NODE_DOCKER_SOCKET): Promise<Engine> {
  // host/port only name the engine in requests: the agent makes every connection.
  const engineOver = (open: () => Promise<Duplex>) => new Docker({ host: "node-engine", port: 80, protocol: "http", agent: new NodeSocketAgent(open) } as Docker.DockerOptions);
  const direct = engineOver(() => connection.openUnixStream(socketPath).then((s) => acknowledging(s, connection)));
  const endpoint = `ssh://${connection.label}${socketPath}`;
  let failure: unknown;
  try {
    await ping(direct);
    return { docker: direct, endpoint, local: false };
  } catch (error) {
    failure = error;
  }
  const user = connection.destination.user;
  const access = await socketAccess(connection, socketPath);
  if (access !== "denied" || user === "root") throw nodeEngineUnavailable(connection.label, socketPath, services, failure, access);
  let sudoSaid = "";
  const bridged = engineOver(() =>
    connection
      .openExecStream(sudoBridgeCommand(socketPath), (chunk) => {
        sudoSaid = `${sudoSaid}${chunk.toString("utf8")}`.slice(-500);
      })
      .then((s) => acknowledging(s, connection)),
  );
  try {
    await ping(bridged);
    log(`engine of ${connection.label}: ${user} may not open ${socketPath}, reached through sudo -n`);
    return { docker: bridged, endpoint: `${endpoint} (sudo)`, local: false };
  } catch (error) {
    const said = sudoSaid.trim().split("\n").pop();
    throw new StartError(
      `The Docker engine on node ${connection.label} (${socketPath}) is not open to the SSH user ${user}, and \`sudo -n\` could not bridge to it (${said || (error as Error).message}), needed by ${who(services)}: add ${user} to the docker group there (\`sudo usermod -aG docker ${user}\`; it applies to new logins), or let ${user} run sudo without a password, or log in as root`,
      { code: "E_DOCKER_UNAVAILABLE", service: services[0], cause: error },
    );
  }
}

function who(services: readonly string[]): string {
  return services.length === 1 ? `service "${services[0]}"` : `services ${services.map((s) => `"${s}"`).join(", ")}`;
}

function nodeEngineUnavailable(node: string, socketPath: string, services: readonly string[], error: unknown, access: "missing" | "denied" | "usable"): StartError {
  const reason = access === "missing" ? "no such socket" : describeChannelError(error);
  return new StartError(
    `No Docker engine answers on node ${node} at ${socketPath} (${reason}), needed by ${who(services)}: install one there (Debian: \`apt-get install docker.io\`) and start it (\`systemctl start docker\`), and let the SSH user use it (root, or the \`docker\` group)`,
    { code: "E_DOCKER_UNAVAILABLE", service: services[0], cause: error },
  );
}

function describeChannelError(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  // sshd's answer when the socket is missing or refuses: "open failed" / "Connection refused".
  if (/open failed|connect failed|refused|No such file/i.test(message)) return "no such socket, or nothing listens on it";
  if (/administratively prohibited/i.test(message)) return "the node's sshd forbids forwarding to unix sockets (AllowStreamLocalForwarding)";
  return message;
}
