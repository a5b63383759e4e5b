import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import ssh2 from "ssh2";
import type { Client as Ssh2Client, ClientChannel, SFTPWrapper } from "ssh2";
import { debugFor } from "../debug.js";
import { HarnessError, StartError } from "../errors.js";
import { ackNow } from "./ack-now.js";
import { ChannelLimit } from "./channel-limit.js";
import { call, uploadPath } from "./sftp-upload.js";
import { abortableCommand, asRootCommand } from "./command-wrappers.js";
import { type AuthAttempt, planAuth } from "./ssh-auth.js";
import { type Destination, describeDestination, resolveJump } from "./ssh-destination.js";
import { verifyHostKey, preferredHostKeyAlgorithms } from "./host-key-check.js";

const { Client } = ssh2;
const log = debugFor("ssh");

/** Below OpenSSH's `MaxSessions` (10), with room for a jump host's forwarded channel. */
export const MAX_CHANNELS = 8;
/** Channels that may be held for the life of a service (log streams): the others stay free for commands. */
export const MAX_STREAMS = 4;
const RECONNECT_ATTEMPTS = 5;

export interface ExecOptions {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  stdin?: string | Buffer;
  /** Sends KILL to the remote command and closes its channel. */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** The exit code; null when the command was killed by a signal or the channel ended without one. */
  code: number | null;
  signal: string | null;
}

export interface RunResult extends ExecResult {
  stdout: string;
  stderr: string;
}

/** The connection went away while a command ran on it; the command's fate on the node is unknown. */
export class ConnectionLostError extends HarnessError {}

/** sshd refused to open a channel on a live connection (no room for one more session just now). */
class ChannelRefused extends Error {}

/** Hands out the jump host connections of `ProxyJump` (the pool, so that they are shared too). */
export interface JumpProvider {
  acquire(destination: Destination, service?: string): SshConnection;
  release(connection: SshConnection): Promise<void>;
}

type Events = { dropped: [reason: string]; reconnected: [attempts: number] };

/**
 * One SSH connection to one node (host, port, user), shared by every service and channel on it.
 * Opened on first use, kept alive, re-opened after a drop (the `dropped` and `reconnected` events
 * say so); at most `MAX_CHANNELS` channels at once, the rest wait.
 */
export class SshConnection extends EventEmitter<Events> {
  readonly label: string;
  /** How many times a connection was established (1, plus one per reconnection). */
  handshakes = 0;
  readonly #limit = new ChannelLimit(MAX_CHANNELS);
  #client: Ssh2Client | undefined;
  #connecting: Promise<Ssh2Client> | undefined;
  #everConnected = false;
  #closed = false;
  #lastError: string | undefined;
  #jump: SshConnection | undefined;
  #streams = 0;
  #acking = false;

  constructor(
    readonly destination: Destination,
    private readonly jumps: JumpProvider,
    private readonly service?: string,
  ) {
    super();
    this.label = describeDestination(destination);
  }

  /** Connects now (or returns at once when connected): verifies the host key and logs in. */
  async connect(): Promise<void> {
    await this.#ensure();
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Runs `command` through the login shell of the node; streams its output; resolves its exit. */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const release = await this.#limit.acquire(options.signal);
    try {
      return await this.#withChannel((client) => this.#execOn(client, command, options));
    } finally {
      release();
    }
  }

  /**
   * Reserves one of the `MAX_STREAMS` long-lived channels, or returns undefined when all are
   * taken (the caller then polls with short commands instead). Call the result to give it back.
   */
  tryReserveStream(): (() => void) | undefined {
    if (this.#streams >= MAX_STREAMS) return undefined;
    this.#streams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#streams--;
    };
  }

  /** Runs `command` and collects its output (for short commands). */
  async run(command: string, options: Omit<ExecOptions, "onStdout" | "onStderr"> = {}): Promise<RunResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const result = await this.exec(command, { ...options, onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) });
    return { ...result, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
  }

  /**
   * Runs `command` as root: directly when logged in as root, else through `sudo -n` (which must
   * not ask for a password). For what only root may do on a node: interfaces, routes, /opt.
   */
  runAsRoot(command: string, options: Omit<ExecOptions, "onStdout" | "onStderr"> = {}): Promise<RunResult> {
    return this.run(asRootCommand(command, this.destination.user), options);
  }

  /** Writes a file on the node with `mode` (default 0600: env files hold secrets). */
  writeFile(remotePath: string, content: string | Buffer, mode = 0o600): Promise<void> {
    return this.#sftp(async (sftp) => {
      await call((cb) => sftp.writeFile(remotePath, content, { mode }, cb));
      await call((cb) => sftp.chmod(remotePath, mode, cb));
    });
  }

  /** Copies a local file or directory (recursively, with modes) to `remotePath` on the node. */
  upload(localPath: string, remotePath: string): Promise<void> {
    return this.#sftp(async (sftp) => {
      await uploadPath(sftp, localPath, remotePath);
    });
  }

  /** A TCP stream to `host:port` as the node sees it (`direct-tcpip`): how ProxyJump goes through. */
  async forwardOut(host: string, port: number): Promise<Duplex> {
    const release = await this.#limit.acquire();
    try {
      const client = await this.#ensure();
      const stream = await new Promise<ClientChannel>((resolve, reject) => client.forwardOut("127.0.0.1", 0, host, port, (error, channel) => (error ? reject(error) : resolve(channel))));
      stream.once("close", release);
      return stream;
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * A stream to a unix socket of the node (`direct-streamlocal@openssh.com`, which sshd allows by
   * default): how a node's Docker engine (`/var/run/docker.sock`) is reached over this connection.
   * Holds one of the connection's channels until it closes.
   */
  async openUnixStream(socketPath: string): Promise<Duplex> {
    const release = await this.#limit.acquire();
    try {
      const client = await this.#ensure();
      const stream = await new Promise<ClientChannel>((resolve, reject) => client.openssh_forwardOutStreamLocal(socketPath, (error, channel) => (error ? reject(error) : resolve(channel))));
      stream.once("close", release);
      return stream;
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * A command's stdin and stdout as one stream (its stderr goes to `onStderr`): a byte pipe to a
   * program on the node, such as a bridge to a socket the login user may not open itself
   * (`sudo -n docker system dial-stdio`). Holds one of the connection's channels until it closes.
   */
  async openExecStream(command: string, onStderr?: (chunk: Buffer) => void): Promise<Duplex> {
    const release = await this.#limit.acquire();
    try {
      const stream = await this.#withChannel(
        (client) =>
          new Promise<ClientChannel>((resolve, reject) =>
            client.exec(command, (error, channel) => {
              if (!error) resolve(channel);
              else reject(this.#client === client ? new ChannelRefused(error.message) : this.#lost(`could not open a channel (${error.message})`, error));
            }),
          ),
      );
      // Both streams must be read, or the channel never closes.
      stream.stderr.on("data", (chunk: Buffer) => onStderr?.(chunk));
      stream.once("close", release);
      return stream;
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Acknowledges at once what the node sent last (see ack-now.ts): for a caller that waits on a reply
   * which sshd may send in several small writes, each but the first held back by Nagle until this
   * side's delayed ACK. At most once per turn of the event loop.
   */
  acknowledge(): void {
    if (this.#acking || !this.#client) return;
    this.#acking = true;
    const client = this.#client;
    setImmediate(() => {
      this.#acking = false;
      if (this.#client === client) ackNow(client);
    });
  }

  /** Ends the connection for good (and releases its jump host). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    log(`close ${this.label}`);
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    if (client) {
      await new Promise<void>((resolve) => {
        client.once("close", () => resolve());
        client.end();
        setTimeout(resolve, 2_000).unref();
      });
    }
    if (this.#jump) await this.jumps.release(this.#jump);
    this.#jump = undefined;
  }

  #ensure(): Promise<Ssh2Client> {
    if (this.#closed) return Promise.reject(new ConnectionLostError(`The SSH connection to ${this.label} is closed`, { code: "E_SSH_CONNECT", service: this.service }));
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connectWithRetry().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  /**
   * A first connect is tried once (a node that is not there says so at once); a reconnect up to
   * RECONNECT_ATTEMPTS times, 0.4 s, 0.8 s… apart, but never after a refused key or host key. Not
   * p-retry (7.1): the same loop, but a dependency (and its own) for it, and the attempt count,
   * the log line per attempt and the `closed` check would sit in its callbacks.
   */
  async #connectWithRetry(): Promise<Ssh2Client> {
    const reconnecting = this.#everConnected;
    for (let attempt = 1; ; attempt++) {
      try {
        log(`${reconnecting ? "reconnect" : "connect"} ${this.label}${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
        const client = await this.#open();
        this.#everConnected = true;
        this.handshakes++;
        log(`connected ${this.label} (handshake ${this.handshakes})`);
        if (reconnecting) this.emit("reconnected", attempt);
        return client;
      } catch (error) {
        const permanent = error instanceof HarnessError && (error.code === "E_SSH_AUTH" || error.code === "E_SSH_HOST_KEY");
        log(`connect ${this.label} failed: ${(error as Error).message.split("\n")[0]}`);
        if (!reconnecting || permanent || attempt >= RECONNECT_ATTEMPTS || this.#closed) throw error;
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  async #open(): Promise<Ssh2Client> {
    const d = this.destination;
    const auth = await planAuth(d, this.service);
    if (auth.attempts.length === 0) {
      const skipped = auth.skipped.length > 0 ? ` (${auth.skipped.join("; ")})` : "";
      throw new StartError(`No SSH key to log in to ${this.label} with${skipped}: set \`ssh.identityFile\` or \`ssh.privateKey\`, name an IdentityFile in ~/.ssh/config, or start ssh-agent`, {
        code: "E_SSH_AUTH",
        service: this.service,
      });
    }
    const sock = d.proxyJump ? await this.#jumpStream() : undefined;
    const client = new Client();
    const tried: string[] = [];
    let hostKeyError: HarnessError | undefined;
    const queue: AuthAttempt[] = [...auth.attempts];
    const preferred = preferredHostKeyAlgorithms(d);
    return new Promise<Ssh2Client>((resolve, reject) => {
      let ready = false;
      client.once("ready", () => {
        ready = true;
        // Engine API calls and short commands are small writes that wait on an answer: no Nagle delay for them (OpenSSH sets TCP_NODELAY too).
        client.setNoDelay(true);
        client.once("hostkeys", () => ackNow(client));
        this.#client = client;
        resolve(client);
      });
      client.on("error", (error: Error & { level?: string; code?: string }) => {
        this.#lastError = error.message;
        if (ready) return;
        reject(hostKeyError ?? this.#connectError(error, tried, auth.skipped));
      });
      client.on("close", () => {
        if (!ready) {
          reject(hostKeyError ?? new StartError(`The SSH connection to ${this.label} closed during the handshake`, { code: "E_SSH_CONNECT", service: this.service }));
          return;
        }
        if (this.#client !== client) return;
        this.#client = undefined;
        if (!this.#closed) this.emit("dropped", this.#lastError ?? "the connection closed");
        this.#lastError = undefined;
      });
      client.connect({
        host: d.hostName,
        port: d.port,
        username: d.user,
        ...(sock ? { sock } : {}),
        readyTimeout: 20_000,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        ...(preferred ? { algorithms: { serverHostKey: preferred as never } } : {}),
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          hostKeyError = verifyHostKey(d, key, this.service);
          verify(hostKeyError === undefined);
        },
        authHandler: (_methodsLeft, _partial, next) => {
          const attempt = queue.shift();
          if (!attempt) return next(false as never);
          tried.push(attempt.description);
          return next(attempt.method);
        },
      });
    });
  }

  /** The stream through the last jump host, which itself goes through the hosts before it. */
  async #jumpStream(): Promise<Duplex> {
    const d = this.destination;
    const hops = d
      .proxyJump!.split(",")
      .map((h) => h.trim())
      .filter(Boolean);
    const last = resolveJump(hops.at(-1)!, d.options, this.service);
    const jumpDestination: Destination = Object.freeze({ ...last, proxyJump: hops.length > 1 ? hops.slice(0, -1).join(",") : undefined });
    this.#jump ??= this.jumps.acquire(jumpDestination, this.service);
    try {
      return await this.#jump.forwardOut(d.hostName, d.port);
    } catch (error) {
      if (error instanceof HarnessError) throw error;
      throw new StartError(`The jump host ${this.#jump.label} could not open a connection to ${d.hostName}:${d.port}: ${(error as Error).message}`, {
        code: "E_SSH_CONNECT",
        service: this.service,
        cause: error,
      });
    }
  }

  #connectError(error: Error & { level?: string; code?: string }, tried: readonly string[], skipped: readonly string[]): StartError {
    if (error.level === "client-authentication") {
      const keys = [...tried.map((t) => `tried ${t}`), ...skipped.map((s) => `skipped ${s}`)].join("; ");
      return new StartError(
        `SSH login to ${this.label} was refused: ${keys}. Put the public half of one of these keys in ~${this.destination.user}/.ssh/authorized_keys on the node, or set \`ssh.identityFile\``,
        { code: "E_SSH_AUTH", service: this.service, cause: error },
      );
    }
    const detail = error.code ? `${error.code}: ${error.message}` : error.message;
    return new StartError(`Cannot open an SSH connection to ${this.label} (${detail}): check that sshd runs there and that the host and port are right`, {
      code: "E_SSH_CONNECT",
      service: this.service,
      cause: error,
    });
  }

  #execOn(client: Ssh2Client, command: string, options: ExecOptions): Promise<ExecResult> {
    const abortable = options.signal !== undefined && options.stdin === undefined;
    return new Promise((resolve, reject) => {
      client.exec(abortable ? abortableCommand(command) : command, (error, channel) => {
        if (error) {
          reject(this.#client === client ? new ChannelRefused(error.message) : this.#lost(`could not open a channel (${error.message})`, error));
          return;
        }
        let exit: ExecResult | undefined;
        // An abortable command's stdin stays open until it ends or is aborted: its end kills the
        // command (see abortableCommand), and OpenSSH delivers a signal only while it is open.
        const onAbort = () => {
          channel.signal("KILL");
          channel.end();
          setTimeout(() => channel.close(), 1_000).unref();
        };
        options.signal?.addEventListener("abort", onAbort, { once: true });
        channel.on("exit", (code: number | null, signal?: string) => {
          exit = { code: code ?? null, signal: signal ? (signal.startsWith("SIG") ? signal : `SIG${signal}`) : null };
        });
        // A channel that breaks with its connection must not throw from an event nobody listens to.
        channel.on("error", () => {});
        // Both streams must be read, or the channel never closes.
        channel.on("data", (chunk: Buffer) => options.onStdout?.(chunk));
        channel.stderr.on("data", (chunk: Buffer) => options.onStderr?.(chunk));
        channel.once("close", () => {
          options.signal?.removeEventListener("abort", onAbort);
          if (options.signal?.aborted) resolve({ code: null, signal: "SIGKILL" });
          else if (exit) resolve(exit);
          else if (this.#client !== client) reject(this.#lost("the connection dropped while a command ran"));
          else resolve({ code: null, signal: null });
        });
        if (options.stdin !== undefined) channel.end(options.stdin);
        else if (!abortable) channel.end();
      });
    });
  }

  /**
   * Opens a channel, again if sshd refuses it: sshd frees a closed session a moment after the
   * client sees it closed, so a channel opened at once in its place may briefly find no room.
   */
  async #withChannel<T>(open: (client: Ssh2Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#ensure();
      try {
        return await open(client);
      } catch (error) {
        if (!(error instanceof ChannelRefused)) throw error;
        if (attempt >= 20) throw this.#lost(`sshd refused to open a channel ${attempt} times (${error.message})`, error);
        await sleep(20 * attempt);
      }
    }
  }

  #lost(what: string, cause?: unknown): ConnectionLostError {
    return new ConnectionLostError(`SSH to ${this.label}: ${what}`, { code: "E_SSH_CONNECT", service: this.service, cause });
  }

  async #sftp<T>(body: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const release = await this.#limit.acquire();
    try {
      const sftp = await this.#withChannel(
        (client) =>
          new Promise<SFTPWrapper>((resolve, reject) =>
            client.sftp((error, s) => {
              if (!error) resolve(s);
              else reject(this.#client === client ? new ChannelRefused(error.message) : this.#lost(`sftp failed (${error.message})`, error));
            }),
          ),
      );
      try {
        return await body(sftp);
      } finally {
        sftp.end();
      }
    } finally {
      release();
    }
  }
}
