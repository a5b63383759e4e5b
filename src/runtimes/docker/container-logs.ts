import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import type { ServiceLog } from "../../logs/service-log.js";

/**
 * Follows a started container's stdout and stderr into the service's log. Opened after `start()`
 * (a follow opened before start yields nothing); it still begins with the container's first line,
 * since the engine replays the log from the start. The stream ends when the container stops.
 */
export async function followContainerLogs(container: Docker.Container, log: ServiceLog): Promise<LogFollow> {
  const stream = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
  const into = (name: "stdout" | "stderr") =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        log.write(name, chunk);
        callback();
      },
    });
  container.modem.demuxStream(stream, into("stdout"), into("stderr"));
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
  return {
    ended: ended.then(() => log.flush()),
    close: () => (stream as NodeJS.ReadableStream & { destroy(): void }).destroy(),
  };
}

export interface LogFollow {
  /** Settles once every line is in the log. */
  readonly ended: Promise<void>;
  /** Stops following (the container is gone, or its stream hangs). */
  close(): void;
}

/**
 * The log of a container polled instead of followed, for an engine reached over a connection with
 * few channels (a node's, over SSH): a follow would hold a channel for the container's life. Every
 * `everyMs`, the lines since the last one seen (by the engine's timestamps); a last poll once the
 * container stopped.
 */
export function pollContainerLogs(container: Docker.Container, log: ServiceLog, everyMs: number): LogFollow {
  let closed = false;
  let last = -1n;
  /** Lines already written whose timestamp is `last` (the next poll returns them again). */
  let atLast = 0;
  const fetchNew = async () => {
    const since = last < 0n ? 0 : Number(last / 1_000_000_000n);
    const raw = (await container.logs({ follow: false, stdout: true, stderr: true, timestamps: true, since })) as unknown as Buffer;
    let skip = atLast;
    for (const { stream, text } of frames(raw)) {
      for (const line of text.split("\n")) {
        if (line === "") continue;
        const space = line.indexOf(" ");
        const at = nanos(line.slice(0, space));
        if (at === undefined) continue;
        if (at < last) continue;
        if (at === last && skip > 0) {
          skip--;
          continue;
        }
        if (at > last) {
          last = at;
          atLast = 0;
          skip = 0;
        }
        atLast++;
        log.write(stream, Buffer.from(`${line.slice(space + 1)}\n`));
      }
    }
  };
  const ended = (async () => {
    while (!closed) {
      const running = await container.inspect().then(
        (i) => i.State.Running,
        () => false,
      );
      await fetchNew().catch(() => {});
      if (!running) break;
      await sleep(everyMs, undefined, { ref: false });
    }
    log.flush();
  })();
  return {
    ended,
    close: () => {
      closed = true;
    },
  };
}

/** The frames of a non-TTY log (8-byte headers: stream, 0, 0, 0, length). */
function* frames(raw: Buffer): Generator<{ stream: "stdout" | "stderr"; text: string }> {
  for (let offset = 0; offset + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(offset + 4);
    yield { stream: raw[offset] === 2 ? "stderr" : "stdout", text: raw.subarray(offset + 8, offset + 8 + size).toString("utf8") };
    offset += 8 + size;
  }
}

/** An RFC 3339 timestamp with up to 9 fraction digits (as the engine writes them), in ns. */
function nanos(stamp: string): bigint | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(stamp);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}Z`) / 1000;
  return BigInt(seconds) * 1_000_000_000n + BigInt((match[2] ?? "").padEnd(9, "0"));
}
