import { Transform } from "node:stream";
import type Docker from "dockerode";
import { debugFor } from "../../debug.js";
import { StartError } from "../../errors.js";
import { engineMessage } from "./engine.js";
import { findImage } from "./images.js";
import { layersOnNode, skippableEntries } from "./shared-layers.js";
import { type TarFilter, tarFilter } from "./tar-filter.js";

const log = debugFor("docker");

/** How often a progress line is written while an image is shipped. */
const PROGRESS_EVERY_MS = 1_000;
const COALESCE_BYTES = 2 ** 20;

export interface ShipProgress {
  service: string;
  node: string;
  /** Where progress lines go. Default: stderr, one line a second while the image moves (and one when it is there, if any was written). */
  write?: (line: string) => void;
}

/** What a ship moved. */
export interface ShipResult {
  /** Bytes of the archive sent to the node (both archives, when it went twice). */
  bytes: number;
  /** Layers left out because the node has them, and the archive bytes that saved. */
  leftOut: { layers: number; bytes: number };
  /** Whether a load of the archive without those layers failed, so that it went again whole. */
  retried: boolean;
}

/** Which of an image's `layers` (diffIDs, bottom first) the node already has, as a prefix of them: `layersOnNode` unless a test knows better. */
export type NodeLayers = (node: Docker, layers: readonly string[]) => Promise<readonly string[]>;

/**
 * Moves an image from one engine to another, as `docker save REF | docker load` would, streamed:
 * the archive is never held whole in memory nor written to disk. No registry is involved. Layers the
 * node already has (the bottom ones it shares with one of its images) are left out of the archive,
 * which the node's classic loader allows; should that load fail anyway, the image goes again whole,
 * so that a wrong guess costs time, never a start.
 */
export async function shipImage(from: Docker, to: Docker, ref: string, progress: ShipProgress, nodeLayers: NodeLayers = layersOnNode): Promise<ShipResult> {
  const write = progress.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const sent = { bytes: 0 };
  let said = false;
  const say = (state: string, note = "") => {
    said = true;
    write(`meshbed: ${progress.service}: image ${ref} ${state} node ${progress.node}: ${(sent.bytes / 1e6).toFixed(1)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s${note}`);
  };
  const timer = setInterval(() => say("shipping to"), PROGRESS_EVERY_MS);
  timer.unref();
  const result: ShipResult = { bytes: 0, leftOut: { layers: 0, bytes: 0 }, retried: false };
  try {
    // The engine writes the whole archive to its disk before the first byte: the node is asked what it has meanwhile.
    const archive = from.getImage(ref).get() as Promise<NodeJS.ReadableStream>;
    // Awaited below; should a step before that fail, that step's error is the one reported.
    archive.catch(() => {});
    const layers = await imageLayers(from, ref);
    const have = await nodeLayers(to, layers).catch((error: unknown) => {
      log(`shipping ${ref} to ${progress.node} whole: which layers the node has is unknown (${engineMessage(error)})`);
      return [];
    });
    const skip = skippableEntries(layers, have.length);
    const filter = skip.size > 0 ? tarFilter((name) => skip.has(name)) : undefined;
    const first = await archive;
    try {
      await load(first, to, sent, filter);
    } catch (error) {
      if (!filter || filter.stats.droppedEntries.length === 0) throw error;
      log(`load of ${ref} on ${progress.node} without the ${have.length} layers it seemed to have failed (${engineMessage(error)}): shipping it again whole`);
      (first as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      result.retried = true;
      await load((await from.getImage(ref).get()) as NodeJS.ReadableStream, to, sent, undefined);
    }
    if (filter && !result.retried) result.leftOut = { layers: filter.stats.droppedEntries.length, bytes: filter.stats.droppedBytes };
    if (skip.size > 0 && result.leftOut.layers === 0 && !result.retried) log(`no entry of the archive of ${ref} was one of the node's ${have.length} layers: shipped whole`);
  } catch (error) {
    throw new StartError(`Image ${ref} of service "${progress.service}" could not be shipped to node ${progress.node}: ${engineMessage(error)}`, {
      code: "E_IMAGE_NOT_FOUND",
      service: progress.service,
      cause: error,
    });
  } finally {
    clearInterval(timer);
  }
  result.bytes = sent.bytes;
  if (said) say("shipped to", result.leftOut.layers > 0 ? ` (${(result.leftOut.bytes / 1e6).toFixed(1)} MB of layers the node has left out)` : "");
  const saved = result.leftOut.layers > 0 ? ` (${result.leftOut.layers} layers the node has left out: ${result.leftOut.bytes} bytes)` : "";
  log(`shipped ${ref} to ${progress.node}: ${result.bytes} bytes${saved} in ${Date.now() - started} ms${result.retried ? ", the second time whole" : ""}`);
  return result;
}

async function imageLayers(docker: Docker, ref: string): Promise<readonly string[]> {
  return (await findImage(docker, ref))?.RootFS?.Layers ?? [];
}

/** One `POST /images/load` of `archive` (through `filter`, if any), to its end. */
async function load(archive: NodeJS.ReadableStream, to: Docker, sent: { bytes: number }, filter: TarFilter | undefined): Promise<void> {
  const source = filter ? archive.pipe(filter) : archive;
  // pipe() does not pass an error on: a save that breaks must fail the load, not leave it waiting.
  if (filter) archive.once("error", (error) => filter.destroy(error));
  source.on("data", (chunk: Buffer) => (sent.bytes += chunk.length));
  // The engine hands the archive out in 64 KiB pieces, each of which would become an HTTP chunk and
  // its own SSH packets and writes: in 1 MiB pieces the same bytes cost fewer (about 8% less time for 50 MB).
  const body = source.pipe(coalesced(COALESCE_BYTES));
  source.once("error", (error) => body.destroy(error));
  const answer = (await to.loadImage(body as never, { quiet: true })) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => {
    to.modem.followProgress(answer, (error: Error | null, items: { error?: string; errorDetail?: { message?: string } }[]) => {
      const failed = error ?? items.find((i) => i.error)?.error;
      if (failed) reject(failed instanceof Error ? failed : new Error(String(failed)));
      else resolve();
    });
  });
}

/** Joins a stream's chunks into pieces of at least `size` bytes (the last one may be shorter). */
function coalesced(size: number): Transform {
  let parts: Buffer[] = [];
  let length = 0;
  return new Transform({
    highWaterMark: size,
    transform(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      length += chunk.length;
      if (length < size) return callback();
      const piece = Buffer.concat(parts, length);
      parts = [];
      length = 0;
      callback(null, piece);
    },
    flush(callback) {
      callback(null, length > 0 ? Buffer.concat(parts, length) : undefined);
    },
  });
}
