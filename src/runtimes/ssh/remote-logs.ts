import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceLog } from "../../logs/service-log.js";
import { type LogResume, pollLogsCommand, watchCommand } from "./remote-script.js";
import { ConnectionLostError, type SshConnection } from "../../ssh/ssh-connection.js";

const POLL_MS = 250;
const MAX_FAILURES = 10;

export interface FollowOptions {
  connection: SshConnection;
  dir: string;
  pgid: number;
  kind: "binary" | "package";
  log: ServiceLog;
  /** Says something about the following itself (a reconnection, a loss) in the service's log. */
  note: (line: string) => void;
}

/**
 * Hands the service's remote logs to its log, live, until the service is gone; resolves whether it
 * saw the end (false: the node could not be reached again). A service streams over a channel of
 * its own while the connection has one to spare (`tryReserveStream`); beyond that, so that many
 * services on one node never take every channel sshd allows, it polls. Either way, a dropped
 * connection resumes where the log left off.
 */
export async function followRemoteLogs(options: FollowOptions): Promise<boolean> {
  const release = options.connection.tryReserveStream();
  try {
    return await (release ? stream(options) : poll(options));
  } finally {
    release?.();
  }
}

async function stream({ connection, dir, pgid, kind, log, note }: FollowOptions): Promise<boolean> {
  const received = { stdout: 0, stderr: 0 };
  let resume: LogResume = { stdout: 0, stderr: 0 };
  for (let failures = 0; ; ) {
    try {
      await connection.exec(watchCommand(dir, pgid, kind, resume), {
        onStdout: (chunk) => {
          received.stdout += chunk.length;
          log.write("stdout", chunk);
        },
        onStderr: (chunk) => {
          received.stderr += chunk.length;
          log.write("stderr", chunk);
        },
      });
      return true;
    } catch (error) {
      if (!(error instanceof ConnectionLostError) || ++failures > MAX_FAILURES) {
        note(`lost track of the service on ${connection.label}: ${(error as Error).message}`);
        return false;
      }
      // A package's logs are many files in one stream: after a drop only new lines follow.
      resume = kind === "binary" ? { ...received } : "new-only";
      await sleep(200);
    }
  }
}

async function poll({ connection, dir, pgid, kind, log, note }: FollowOptions): Promise<boolean> {
  const offsets: Record<string, number> = {};
  for (let failures = 0; ; ) {
    const frames = new FrameReader((file, bytes) => {
      offsets[file] = (offsets[file] ?? 0) + bytes.length;
      log.write(kind === "binary" && file === "logs/stderr.log" ? "stderr" : "stdout", bytes);
    });
    try {
      const result = await connection.exec(pollLogsCommand(dir, pgid, offsets), { onStdout: (chunk) => frames.push(chunk) });
      failures = 0;
      if (result.code === 3) return true;
    } catch (error) {
      if (!(error instanceof ConnectionLostError) || ++failures > MAX_FAILURES) {
        note(`lost track of the service on ${connection.label}: ${(error as Error).message}`);
        return false;
      }
    }
    await sleep(POLL_MS);
  }
}

/** Reads `MBLOG <file> <length>\n` + exactly that many bytes, again and again. */
export class FrameReader {
  #buffer = Buffer.alloc(0);
  #current: { file: string; left: number } | undefined;

  constructor(private readonly onData: (file: string, bytes: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (this.#current) {
        if (this.#buffer.length === 0) return;
        const take = Math.min(this.#current.left, this.#buffer.length);
        this.onData(this.#current.file, this.#buffer.subarray(0, take));
        this.#buffer = this.#buffer.subarray(take);
        this.#current.left -= take;
        if (this.#current.left === 0) this.#current = undefined;
        continue;
      }
      const end = this.#buffer.indexOf(10);
      if (end < 0) return;
      const header = this.#buffer.subarray(0, end).toString("utf8");
      this.#buffer = this.#buffer.subarray(end + 1);
      const match = /^MBLOG (.+) (\d+)$/.exec(header);
      if (match) this.#current = { file: match[1]!, left: Number(match[2]) };
    }
  }
}
