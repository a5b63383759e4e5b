import { createHash } from "node:crypto";
import type Docker from "dockerode";
import { debugFor } from "../../debug.js";

const log = debugFor("docker");

/** A node with more images than this is not searched for shared layers: the inspects would cost more than they save. */
export const MAX_NODE_IMAGES = 50;
/** Inspects in flight at once, over the node's connection (which has a few channels for everything else too). */
const INSPECTS_AT_ONCE = 4;

/**
 * The leading layers of `layers` (diffIDs, bottom first) that the node already has, as learned from
 * the layers of the node's own images: the longest prefix that one of them starts with too. Only a
 * prefix counts: a layer is stored by its chain ID, which depends on every layer below it.
 */
export async function layersOnNode(node: Docker, layers: readonly string[]): Promise<readonly string[]> {
  const [info, images] = await Promise.all([node.info() as Promise<{ DriverStatus?: [string, string][] | null }>, node.listImages()]);
  if (usesContainerdStore(info)) {
    log("node's engine keeps images in containerd: its load wants every layer, none is left out");
    return [];
  }
  if (images.length > MAX_NODE_IMAGES) {
    log(`node has ${images.length} images (over ${MAX_NODE_IMAGES}): no search for shared layers`);
    return [];
  }
  const queue = [...images];
  let shared = 0;
  const worker = async () => {
    for (let image = queue.shift(); image && shared < layers.length; image = queue.shift()) {
      const theirs = await node
        .getImage(image.Id)
        .inspect()
        .then((i) => i.RootFS?.Layers ?? [])
        // Removed since it was listed: it shares nothing.
        .catch(() => []);
      shared = Math.max(shared, commonPrefix(layers, theirs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(INSPECTS_AT_ONCE, images.length) }, worker));
  return layers.slice(0, shared);
}

/**
 * Whether an engine keeps its images in containerd's store (Docker 24+ with the containerd image store,
 * the default of fresh installs from 29): `GET /info` then names a containerd snapshotter as its
 * driver's type in `DriverStatus` (`["driver-type", "io.containerd.snapshotter.v1"]`); the classic
 * store (overlay2 and the other graph drivers) never does. That store's load reads every blob the
 * archive's index names, so a layer left out fails it; the classic loader skips a layer whose chain
 * it has without opening its file.
 */
export function usesContainerdStore(info: { DriverStatus?: readonly (readonly string[])[] | null }): boolean {
  return (info.DriverStatus ?? []).some(([key, value]) => key === "driver-type" && value?.startsWith("io.containerd.snapshotter") === true);
}

export function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * The archive entries of `docker save` that hold the first `count` of `layers` (diffIDs, bottom
 * first), in both layouts an engine writes:
 * - Docker 25 and later (OCI layout): `blobs/sha256/<diffID>`;
 * - before (legacy layout): `<v1 ID>/layer.tar`, where the v1 ID is a hash the engine derives from the
 *   layer's chain ID and the v1 ID below it (`v1.CreateID`). Only layers below the top one have IDs
 *   that can be derived without the image's config: the top one is never named here.
 * A layer whose file another, kept, layer shares (the same diffID higher up) is not named: the engine
 * writes such a file once and links the other to it. A name that is wrong matches no entry, so that
 * the worst it can do is leave nothing out.
 */
export function skippableEntries(layers: readonly string[], count: number): Set<string> {
  const kept = new Set(layers.slice(count));
  const chains = chainIds(layers);
  const names = new Set<string>();
  let parent: string | undefined;
  for (let i = 0; i < count; i++) {
    const v1 = legacyLayerId(chains[i]!, parent);
    parent = v1;
    if (kept.has(layers[i]!)) continue;
    names.add(`blobs/sha256/${hex(layers[i]!)}`);
    if (i < layers.length - 1) names.add(`${hex(v1)}/layer.tar`);
  }
  return names;
}

/** Chain IDs: the first layer's is its diffID; each next one is sha256("<chain below> <diffID>"). */
export function chainIds(layers: readonly string[]): string[] {
  const chains: string[] = [];
  for (const layer of layers) {
    const below = chains.at(-1);
    chains.push(below === undefined ? layer : `sha256:${createHash("sha256").update(`${below} ${layer}`).digest("hex")}`);
  }
  return chains;
}

/**
 * A zero `container.Config` as Go's encoding/json writes it (Docker 20.10–24): what `v1.CreateID` hashes
 * for every layer below the top one, whose v1 image carries nothing but the epoch as its creation time.
 */
const ZERO_CONTAINER_CONFIG =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';

/**
 * The v1 ID of a layer below the top one in a legacy `docker save`: the keys sorted, as Go marshals a
 * map (checked against Docker 20.10's archives). The epoch is written in the engine's local time zone:
 * an engine not on UTC names its directories otherwise, and then nothing is left out.
 */
export function legacyLayerId(chainId: string, parent: string | undefined): string {
  const json = `{"container_config":${ZERO_CONTAINER_CONFIG},"created":"1970-01-01T00:00:00Z","layer_id":"${chainId}"${parent ? `,"parent":"${parent}"` : ""}}`;
  return `sha256:${createHash("sha256").update(json).digest("hex")}`;
}

function hex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}
