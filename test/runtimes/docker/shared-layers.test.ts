/**
 * Which entries of `docker save` a node can do without: the chain and v1 IDs are checked against an
 * archive that Docker 20.10 wrote (the test busybox image: five layers, `docker save | tar t` and
 * `docker image inspect` of it), the rest is the rules of prefixes.
 */
import { describe, expect, test } from "vitest";
import { chainIds, commonPrefix, legacyLayerId, skippableEntries, usesContainerdStore } from "../../../src/runtimes/docker/shared-layers.js";

/** RootFS.Layers of the image, bottom first. */
const LAYERS = [
  "sha256:c7cb57fe65cb276dd0772dd2658af0e047bd97bc0e691aead4e0e9e8f3820e05",
  "sha256:67458dee509be149930709cba6a6366badc18d08ea0e803b5cde9158a9708731",
  "sha256:a902d3125d875e1227c5dfd2a4d6e0b3033f2bce25de31ab581933c6c97a0e89",
  "sha256:17a78c3395f6b0a6c37d5dd846cf1d9ba3b21586fe65f940e7267c69111bf1d9",
  "sha256:05d9a1126e3bdbfb838c164ca5d6df65dbd591a44a3b08794388a84cd84456fc",
];
/** The layer directories of its archive, in the order of manifest.json's `Layers`. */
const DIRS = [
  "0e994e43f224e86bdb49378c43754768d6f434aef7ffac6c4352ae19a2c511f0",
  "430f2b9ff7787613141e9d231e42ace4ecf1c3b27711b3d84719af3780504384",
  "e1fb6d6463d56c4a6b2402d2aea4c95c198c7a1d65cdfd2e4d75e71a0efae143",
  "67b4da160b3538ee8efce9e13e64f1a8d9bcb4bc50b5f6550d401807c574a69b",
  // The top one's ID hashes the image's config as well: not derived here.
  "dddc14d804c63e622ede5a717081f95be15e9fa5f3692f72e671948aa40d5f48",
];

describe("the names of layers in a `docker save` archive", () => {
  test("derives the v1 IDs (legacy layout's directory names) of every layer below the top one, as Docker 20.10 wrote them", () => {
    const chains = chainIds(LAYERS);
    expect(chains[0]).toBe(LAYERS[0]);
    let parent: string | undefined;
    const ids = chains.slice(0, -1).map((chain) => (parent = legacyLayerId(chain, parent)));
    expect(ids).toEqual(DIRS.slice(0, -1).map((d) => `sha256:${d}`));
  });

  test("names both layouts' entries of the leading layers, never the top one's legacy directory", () => {
    expect([...skippableEntries(LAYERS, 2)]).toEqual([`blobs/sha256/${LAYERS[0]!.slice(7)}`, `${DIRS[0]}/layer.tar`, `blobs/sha256/${LAYERS[1]!.slice(7)}`, `${DIRS[1]}/layer.tar`]);
    const all = skippableEntries(LAYERS, 5);
    expect(all.has(`blobs/sha256/${LAYERS[4]!.slice(7)}`)).toBe(true);
    expect(all.has(`${DIRS[4]}/layer.tar`)).toBe(false);
    expect(skippableEntries(LAYERS, 0).size).toBe(0);
  });

  test("keeps a layer whose file a kept layer higher up shares (the same diffID: one file, the other a link to it)", () => {
    const layers = [LAYERS[0]!, LAYERS[1]!, LAYERS[0]!];
    const names = skippableEntries(layers, 2);
    expect(names.has(`blobs/sha256/${LAYERS[0]!.slice(7)}`)).toBe(false);
    expect(names.has(`${DIRS[0]}/layer.tar`)).toBe(false);
    expect(names.has(`${DIRS[1]}/layer.tar`)).toBe(true);
  });
});

describe("what the node has", () => {
  test("counts the leading layers two images share, and nothing after the first difference", () => {
    expect(commonPrefix(LAYERS, LAYERS.slice(0, 3))).toBe(3);
    expect(commonPrefix(LAYERS, [LAYERS[0]!, "sha256:other", LAYERS[2]!])).toBe(1);
    expect(commonPrefix(LAYERS, [LAYERS[1]!])).toBe(0);
    expect(commonPrefix(LAYERS, [])).toBe(0);
  });

  test("tells the containerd image store from the classic one by `GET /info`'s DriverStatus", () => {
    expect(usesContainerdStore({ DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]] })).toBe(true);
    expect(
      usesContainerdStore({
        DriverStatus: [
          ["Backing Filesystem", "extfs"],
          ["Supports d_type", "true"],
        ],
      }),
    ).toBe(false);
    expect(usesContainerdStore({ DriverStatus: null })).toBe(false);
    expect(usesContainerdStore({})).toBe(false);
  });
});
