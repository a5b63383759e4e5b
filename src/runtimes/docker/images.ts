import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { debugFor } from "../../debug.js";
import { engineMessage, statusOf } from "./engine.js";
import { tarDirectory } from "./tar.js";
import { type ErrorCode, HarnessError, StartError } from "../../errors.js";

const TAIL_LINES = 20;
const log = debugFor("docker");

/** The image's inspect data, or undefined when the engine does not have it. */
export async function findImage(docker: Docker, ref: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** The tag of an image built for a service of a run: lowercase, as image names must be. */
export function builtTag(runId: string, service: string): string {
  return `mb-${runId}-${service.toLowerCase().replace(/[^a-z0-9]+/g, "-")}:latest`;
}

/** Pulls `ref`; a pull that fails says that the image is neither here nor reachable. */
export async function pullImage(docker: Docker, ref: string, service: string, present: boolean, signal: AbortSignal): Promise<void> {
  log(`pull ${ref} for ${service}${present ? " (present locally)" : ""}`);
  try {
    const stream = (await docker.pull(ref, { abortSignal: signal })) as NodeJS.ReadableStream;
    await readProgress(stream, signal, "E_IMAGE_NOT_FOUND");
  } catch (error) {
    const why = engineMessage(error);
    const message = present
      ? `Could not pull image "${ref}" of service "${service}" (\`pull: "always"\`): ${why}; use \`pull: "missing"\` to run the local copy`
      : `Image "${ref}" of service "${service}" is not present locally and no registry answered (${why}): build it (\`build: { context }\`, \`docker build -t ${ref} …\`) or load it (\`docker load -i image.tar\`)`;
    throw new StartError(message, { code: "E_IMAGE_NOT_FOUND", service, cause: error });
  }
}

export interface BuildRequest {
  context: string;
  dockerfile: string;
  tag: string;
  labels: Record<string, string>;
}

/**
 * Builds an image from a directory. The engine reports a failed step inside the progress stream,
 * not as an HTTP error; `forcerm` removes the intermediate containers of a failed build.
 */
export async function buildImage(docker: Docker, request: BuildRequest, service: string, signal: AbortSignal): Promise<void> {
  const context = path.resolve(request.context);
  if (!fs.statSync(context, { throwIfNoEntry: false })?.isDirectory()) {
    throw new StartError(`The build context of service "${service}" is not a directory: ${context}; fix \`build.context\``, {
      code: "E_IMAGE_BUILD_FAILED",
      service,
    });
  }
  const output: string[] = [];
  log(`build ${request.tag} for ${service} from ${context} (${request.dockerfile})`);
  try {
    const stream = await docker.buildImage(tarDirectory(context), {
      t: request.tag,
      dockerfile: request.dockerfile,
      labels: request.labels,
      rm: true,
      forcerm: true,
      abortSignal: signal,
    } as Docker.ImageBuildOptions);
    await readProgress(stream, signal, "E_IMAGE_BUILD_FAILED", (item) => {
      if (typeof item.stream === "string") output.push(...item.stream.split("\n").filter((l) => l.trim() !== ""));
    });
  } catch (error) {
    throw new StartError(`The image of service "${service}" did not build from ${context}: ${engineMessage(error)}; fix the Dockerfile or the context`, {
      code: "E_IMAGE_BUILD_FAILED",
      service,
      cause: error,
      logTail: output.slice(-TAIL_LINES),
    });
  }
}

/** Removes an image the run built (and its intermediate layers); one already gone is fine. */
export async function removeImage(docker: Docker, ref: string): Promise<void> {
  try {
    await docker.getImage(ref).remove({ force: true });
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
}

interface ProgressItem {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Reads an engine progress stream (JSON lines) to its end; rejects on the first error item (with `code`). */
function readProgress(stream: NodeJS.ReadableStream, signal: AbortSignal, code: ErrorCode, onItem?: (item: ProgressItem) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let failed: HarnessError | undefined;
    const onAbort = () => {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(signal.reason instanceof Error ? signal.reason : new HarnessError("The image's build or pull was aborted", { code: "E_START_ABORTED", cause: signal.reason }));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const line = (text: string) => {
      if (text.trim() === "") return;
      let item: ProgressItem;
      try {
        item = JSON.parse(text) as ProgressItem;
      } catch {
        return;
      }
      onItem?.(item);
      if (item.error !== undefined && !failed) failed = new HarnessError(item.errorDetail?.message ?? item.error, { code });
    };
    stream.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      let at: number;
      while ((at = buffer.indexOf("\n")) >= 0) {
        line(buffer.slice(0, at));
        buffer = buffer.slice(at + 1);
      }
    });
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      line(buffer);
      buffer = "";
      const cause = error ?? failed;
      if (cause) reject(cause);
      else resolve();
    };
    stream.once("end", () => finish());
    stream.once("error", (error: Error) => finish(error));
  });
}
