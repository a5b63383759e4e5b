/**
 * The tar filter of image shipping, on archives made by tar-stream in memory: which entries go,
 * that what stays is byte for byte what came in, and that where the chunks are cut does not matter.
 */
import { Readable } from "node:stream";
import tar from "tar-stream";
import { describe, expect, test } from "vitest";
import { type TarFilter, tarFilter } from "../../../src/runtimes/docker/tar-filter.js";

const MTIME = new Date("2026-01-01T00:00:00Z");
const LAYER = "a".repeat(64);
const KEPT_LAYER = "b".repeat(64);

interface Entry {
  name: string;
  content?: Buffer;
  type?: "file" | "directory";
  pax?: Record<string, string>;
  /** Make this file entry's header a GNU long name ('L'), which tar-stream does not write itself (its name must be "././@LongLink"). */
  typeflag?: "L";
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function archive(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const content = e.content ?? Buffer.alloc(0);
    const header = { name: e.name, type: e.type ?? "file", mode: 0o644, mtime: MTIME, size: content.length, ...(e.pax ? { pax: e.pax } : {}) } as const;
    if (e.type === "directory") pack.entry(header);
    else pack.entry(header, content);
  }
  pack.finalize();
  const bytes = await collect(pack as unknown as NodeJS.ReadableStream);
  if (entries.some((e) => e.typeflag)) {
    for (let at = 0; at < bytes.length; at += 512) if (bytes.toString("latin1", at, at + 14) === "././@LongLink\0") setTypeflag(bytes, at, "L");
  }
  return bytes;
}

/** Rewrites the type of the header at `at`, and its checksum with it. */
function setTypeflag(bytes: Buffer, at: number, flag: string): void {
  bytes.write(flag, at + 156, "latin1");
  fixChecksum(bytes, at);
}

function fixChecksum(bytes: Buffer, at: number): void {
  bytes.fill(0x20, at + 148, at + 156);
  const sum = bytes.subarray(at, at + 512).reduce((a, b) => a + b, 0);
  bytes.write(`${sum.toString(8).padStart(6, "0")}\0 `, at + 148, "latin1");
}

/** A GNU long-name entry ('L') and the entry it renames, whose own name field is cut short. */
function gnuLongName(name: string, content: Buffer): Entry[] {
  return [
    { name: "././@LongLink", typeflag: "L", content: Buffer.from(`${name}\0`) },
    { name: name.slice(0, 90), content },
  ];
}

/** `input` through a filter, in the given chunks. */
async function filtered(input: Buffer, drop: (name: string) => boolean, cuts: readonly number[] = []): Promise<{ output: Buffer; filter: TarFilter }> {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    pieces.push(input.subarray(from, cut));
    from = cut;
  }
  const filter = tarFilter(drop);
  const output = collect(Readable.from(pieces).pipe(filter));
  return { output: await output, filter };
}

async function names(input: Buffer): Promise<{ name: string; content: string }[]> {
  const extract = tar.extract();
  const out: { name: string; content: string }[] = [];
  const done = (async () => {
    for await (const entry of extract) out.push({ name: entry.header.name, content: (await collect(entry as unknown as NodeJS.ReadableStream)).toString() });
  })();
  extract.end(input);
  await done;
  return out;
}

const byDigest = (digests: readonly string[]) => (name: string) => digests.some((d) => name === `blobs/sha256/${d}`);
const payload = (n: number, seed: string) => Buffer.from(seed.repeat(Math.ceil(n / seed.length)).slice(0, n));

describe("tarFilter", () => {
  test("drops a layer in the middle: the output is exactly the archive made without it", async () => {
    const before = { name: "blobs/sha256/config", content: payload(300, "c") };
    const layer = { name: `blobs/sha256/${LAYER}`, content: payload(5000, "layer") };
    const after = { name: "manifest.json", content: payload(700, "m") };
    const { output, filter } = await filtered(await archive([before, layer, after]), byDigest([LAYER]));
    expect(output.equals(await archive([before, after]))).toBe(true);
    expect(filter.stats).toEqual({ droppedEntries: [`blobs/sha256/${LAYER}`], droppedBytes: 512 + 5120 });
  });

  test("keeps everything, byte for byte, when nothing is to be dropped (and ends with the end-of-archive blocks)", async () => {
    const input = await archive([{ name: "blobs/", type: "directory" }, { name: `blobs/sha256/${KEPT_LAYER}`, content: payload(1025, "k") }, { name: "index.json" }]);
    const { output, filter } = await filtered(input, byDigest([LAYER]));
    expect(output.equals(input)).toBe(true);
    expect(output.subarray(-1024).every((b) => b === 0)).toBe(true);
    expect(filter.stats.droppedBytes).toBe(0);
  });

  test("gives the same output wherever the chunks are cut, and in 1-byte chunks", async () => {
    const entries: Entry[] = [
      { name: "repositories", content: payload(100, "r") },
      { name: `blobs/sha256/${LAYER}`, content: payload(1500, "x") },
      { name: `blobs/sha256/${KEPT_LAYER}`, content: payload(512, "y"), pax: { "SCHILY.xattr.user.a": "1" } },
      { name: `blobs/sha256/${LAYER.replace(/a$/, "c")}`, content: payload(10, "z"), pax: { comment: "dropped with its PAX header" } },
      { name: "manifest.json", content: payload(3, "m") },
    ];
    const drop = byDigest([LAYER, LAYER.replace(/a$/, "c")]);
    const input = await archive(entries);
    const expected = await archive([entries[0]!, entries[2]!, entries[4]!]);
    for (let cut = 0; cut <= input.length; cut++) {
      const { output } = await filtered(input, drop, [cut]);
      if (!output.equals(expected)) expect.fail(`cut at ${cut} changed the output`);
    }
    const everyByte = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
    expect((await filtered(input, drop, everyByte)).output.equals(expected)).toBe(true);
  });

  test("reads the name of a PAX `path` record and of a GNU long name, and drops their headers with the entry", async () => {
    const long = `blobs/sha256/${"d".repeat(200)}`;
    const gnu = `blobs/sha256/${"e".repeat(120)}`;
    const input = await archive([
      { name: long, content: payload(600, "p") },
      { name: "kept-long/".repeat(15), type: "directory" },
      ...gnuLongName(gnu, payload(40, "g")),
      { name: "last", content: payload(1, "l") },
    ]);
    const { output, filter } = await filtered(input, (name) => name === long || name === gnu);
    expect(filter.stats.droppedEntries).toEqual([long, gnu]);
    expect(await names(output)).toEqual([
      { name: "kept-long/".repeat(15), content: "" },
      { name: "last", content: "l" },
    ]);
  });

  test("reads a size in base-256 (GNU's form for 8 GiB and more)", async () => {
    const input = await archive([
      { name: `blobs/sha256/${LAYER}`, content: payload(700, "b") },
      { name: "manifest.json", content: payload(2, "m") },
    ]);
    // The first header's size (700) rewritten in base-256, and its checksum with it.
    input.fill(0, 124, 136);
    input[124] = 0x80;
    input.writeUInt16BE(700, 134);
    fixChecksum(input, 0);
    expect((await names(input))[0]!.content.length).toBe(700);
    const { output } = await filtered(input, byDigest([LAYER]));
    expect(await names(output)).toEqual([{ name: "manifest.json", content: "mm" }]);
  });

  test("passes on the rest of an archive it cannot read (a bad checksum) untouched, for the reader to report", async () => {
    const input = await archive([
      { name: "keep", content: payload(10, "k") },
      { name: `blobs/sha256/${LAYER}`, content: payload(10, "x") },
    ]);
    // Break the second header (after the first entry's header and its one data block).
    input[1024 + 5] = input[1024 + 5]! ^ 0xff;
    const { output, filter } = await filtered(input, byDigest([LAYER]));
    expect(output.equals(input)).toBe(true);
    expect(filter.stats.droppedEntries).toEqual([]);
  });

  test("passes on a cut-off archive as far as it goes", async () => {
    const input = (
      await archive([
        { name: "keep", content: payload(10, "k") },
        { name: "x".repeat(300), content: payload(10, "x") },
      ])
    ).subarray(0, 1024 + 300);
    const { output } = await filtered(input, () => false);
    expect(output.equals(input)).toBe(true);
  });
});
