import { Writable } from "node:stream";
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
