import http from "node:http";
import type { Duplex } from "node:stream";
import Docker from "dockerode";
import { StartError } from "../../errors.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";
import type { Engine } from "./engine.js";

/** Where a node's engine listens, as the Docker CLI on the node looks first. */
export const NODE_DOCKER_SOCKET = "/var/run/docker.sock";

const PING_TIMEOUT_MS = 10_000;

/**
 * An HTTP agent whose every connection is a channel to the node's engine socket over the node's one
 * pooled SSH connection (no second connection, no TCP port opened on the node). Keep-alive (a
 * request on an open channel costs no channel open), but at most one idle channel: each holds one of
 * the connection's few sessions.
 */
class NodeSocketAgent extends http.Agent {
  constructor(
    private readonly connection: SshConnection,
    private readonly socketPath: string,
  ) {
    // No limit of its own: the connection's (MAX_CHANNELS) makes requests wait, and a limit here below it could hold them behind log follows.
    super({ keepAlive: true, maxFreeSockets: 1 });
  }

  override createConnection(_options: http.ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): undefined {
    this.connection.openUnixStream(this.socketPath).then(
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
 * The Docker engine of a node, reached over its pooled SSH connection. Pings it, so that a node
 * without an engine is reported (naming the node, saying what to do) before anything is created.
 */
export async function connectNodeEngine(connection: SshConnection, services: readonly string[], socketPath = NODE_DOCKER_SOCKET): Promise<Engine> {
  // host/port only name the engine in requests: the agent makes every connection.
  const docker = new Docker({ host: "node-engine", port: 80, protocol: "http", agent: new NodeSocketAgent(connection, socketPath) } as Docker.DockerOptions);
  const endpoint = `ssh://${connection.label}${socketPath}`;
  try {
    await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref())]);
  } catch (error) {
    throw nodeEngineUnavailable(connection.label, socketPath, services, error);
  }
  return { docker, endpoint, local: false };
}

function nodeEngineUnavailable(node: string, socketPath: string, services: readonly string[], error: unknown): StartError {
  const who = services.length === 1 ? `service "${services[0]}"` : `services ${services.map((s) => `"${s}"`).join(", ")}`;
  const reason = describeChannelError(error);
  return new StartError(
    `No Docker engine answers on node ${node} at ${socketPath} (${reason}), needed by ${who}: install one there (Debian: \`apt-get install docker.io\`) and start it (\`systemctl start docker\`), and let the SSH user use it (root, or the \`docker\` group)`,
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
