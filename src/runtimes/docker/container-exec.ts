import { Writable } from "node:stream";
import type Docker from "dockerode";
import type { RuntimeContext } from "../runtime.js";

/** The image's HEALTHCHECK as an argv, when it has one. */
export function imageHealthcheck(config: Docker.ImageInspectInfo["Config"] | undefined): string[] | undefined {
  const test = (config as { Healthcheck?: { Test?: string[] } } | undefined)?.Healthcheck?.Test;
  if (!test || test.length === 0 || test[0] === "NONE") return undefined;
  if (test[0] === "CMD-SHELL") return [...((config as { Shell?: string[] }).Shell ?? ["/bin/sh", "-c"]), test.slice(1).join(" ")];
  return test[0] === "CMD" ? test.slice(1) : test;
}

/**
 * Runs a command in the container (with its env), its output discarded. A command the runtime
 * cannot run at all is said once in the service's log, so that a health timeout shows why.
 */
export async function execIn(container: Docker.Container, argv: readonly string[], signal: AbortSignal, context: RuntimeContext): Promise<number> {
  const exec = await container.exec({ Cmd: [...argv], AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream & { destroy(): void };
  let output = "";
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (output.length < 4096) output += chunk.toString();
      callback();
    },
  });
  container.modem.demuxStream(stream, sink, sink);
  const aborted = await new Promise<boolean>((resolve) => {
    const onAbort = () => {
      stream.destroy();
      resolve(true);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      signal.removeEventListener("abort", onAbort);
      resolve(false);
    };
    stream.once("end", done);
    stream.once("close", done);
    stream.once("error", done);
  });
  if (aborted) return 130;
  const { ExitCode } = await exec.inspect();
  const code = ExitCode ?? 1;
  if ((code === 126 || code === 127) && /OCI runtime exec failed|executable file not found/i.test(output) && !reported.has(context)) {
    reported.add(context);
    context.log.push("stderr", `[meshbed] cannot run ${JSON.stringify(argv)} in the container: ${output.trim().split("\n")[0]}`);
  }
  return code;
}

const reported = new WeakSet<RuntimeContext>();
