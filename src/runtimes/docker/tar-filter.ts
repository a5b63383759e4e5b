import { Transform } from "node:stream";

const BLOCK = 512;
/** A PAX or GNU long-name header is held until the entry it describes is seen; one larger than this is not a name and is passed on unread. */
const MAX_META_BYTES = 2 ** 20;

/** What a filter dropped, for the log. */
export interface TarFilterStats {
  /** Names of the entries left out. */
  droppedEntries: string[];
  /** Bytes left out: headers, data and padding. */
  droppedBytes: number;
}

export type TarFilter = Transform & { readonly stats: TarFilterStats };

type Meta = { type: "pax" | "longname" | "other"; size: number; data: Buffer[] };

/**
 * A tar archive passed through, minus the entries `drop(name)` is true for. It reads only the
 * 512-byte headers (name, prefix, size, type) and the small PAX and GNU long-name entries that rename
 * the entry after them; every kept byte goes on as a slice of the chunk it came in (nothing is
 * re-encoded), and a dropped entry's extension headers are dropped with it. An archive it cannot read
 * (a header whose checksum is wrong) is passed on as it is from there on, so that the reader, not the
 * filter, says what is wrong with it.
 */
export function tarFilter(drop: (name: string) => boolean): TarFilter {
  const stats: TarFilterStats = { droppedEntries: [], droppedBytes: 0 };
  /** Bytes of a header that arrived split across chunks. */
  let partial: Buffer[] = [];
  let partialLength = 0;
  /** Extension headers (and their data) waiting for the entry they belong to. */
  let held: Buffer[] = [];
  let heldLength = 0;
  let meta: Meta | undefined;
  let longName: string | undefined;
  let paxName: string | undefined;
  /** Bytes of the current entry's data (with padding) still to come, and what to do with them. */
  let remaining = 0;
  let mode: "keep" | "drop" | "hold" = "keep";
  let through = false;

  const filter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let at = 0;
      while (at < chunk.length) {
        if (through) {
          filter.push(at === 0 ? chunk : chunk.subarray(at));
          break;
        }
        if (remaining > 0) {
          const n = Math.min(remaining, chunk.length - at);
          const piece = chunk.subarray(at, at + n);
          if (mode === "keep") filter.push(piece);
          else if (mode === "drop") stats.droppedBytes += n;
          else hold(piece, true);
          remaining -= n;
          at += n;
          if (remaining === 0 && mode === "hold") endMeta();
          continue;
        }
        let header: Buffer;
        if (partialLength === 0 && chunk.length - at >= BLOCK) {
          header = chunk.subarray(at, at + BLOCK);
          at += BLOCK;
        } else {
          const n = Math.min(BLOCK - partialLength, chunk.length - at);
          partial.push(chunk.subarray(at, at + n));
          partialLength += n;
          at += n;
          if (partialLength < BLOCK) break;
          header = Buffer.concat(partial, BLOCK);
          partial = [];
          partialLength = 0;
        }
        onHeader(header);
      }
      callback();
    },
    flush(callback) {
      // A cut-off archive: what was held back goes on, for the reader to report.
      for (const piece of [...held, ...partial]) filter.push(piece);
      callback();
    },
  }) as TarFilter;
  Object.defineProperty(filter, "stats", { value: stats });

  function onHeader(header: Buffer): void {
    if (isZero(header) || !checksumMatches(header)) {
      // The end-of-archive blocks, or something this filter does not understand: the rest goes on as it is.
      passThrough(header);
      return;
    }
    const size = readSize(header);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(header[156]!);
    if (type === "x" || type === "L" || type === "K") {
      if (heldLength + BLOCK + padded > MAX_META_BYTES) {
        passThrough(header);
        return;
      }
      hold(header, false);
      meta = { type: type === "x" ? "pax" : type === "L" ? "longname" : "other", size, data: [] };
      mode = "hold";
      remaining = padded;
      if (remaining === 0) endMeta();
      return;
    }
    const name = paxName ?? longName ?? readName(header);
    paxName = undefined;
    longName = undefined;
    if (drop(name)) {
      stats.droppedEntries.push(name);
      stats.droppedBytes += heldLength + BLOCK;
      mode = "drop";
    } else {
      for (const piece of held) filter.push(piece);
      filter.push(header);
      mode = "keep";
    }
    held = [];
    heldLength = 0;
    remaining = padded;
  }

  function hold(piece: Buffer, isData: boolean): void {
    held.push(piece);
    heldLength += piece.length;
    if (isData) meta!.data.push(piece);
  }

  function endMeta(): void {
    const data = Buffer.concat(meta!.data).subarray(0, meta!.size);
    if (meta!.type === "pax") paxName = paxPath(data) ?? paxName;
    else if (meta!.type === "longname") longName = cString(data, 0, data.length);
    meta = undefined;
  }

  function passThrough(header: Buffer): void {
    through = true;
    for (const piece of held) filter.push(piece);
    held = [];
    heldLength = 0;
    filter.push(header);
  }

  return filter;
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the sum of its bytes with the checksum field (148–155) read as spaces. */
function checksumMatches(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum === parseInt(cString(header, 148, 156).trim() || "-1", 8);
}

/** The size field: octal digits, or (GNU, for 8 GiB and more) base-256 with the high bit of the first byte set. */
function readSize(header: Buffer): number {
  if (header[124]! & 0x80) {
    let size = header[124]! & 0x7f;
    for (let i = 125; i < 136; i++) size = size * 256 + header[i]!;
    return size;
  }
  return parseInt(cString(header, 124, 136).trim() || "0", 8);
}

/** name, with the POSIX ustar prefix before it where there is one (GNU headers use those bytes for other things). */
function readName(header: Buffer): string {
  const name = cString(header, 0, 100);
  const posix = header.toString("latin1", 257, 263) === "ustar\0";
  const prefix = posix ? cString(header, 345, 500) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** The `path` record of PAX extended-header data (records are "<length> <key>=<value>\n"). */
function paxPath(data: Buffer): string | undefined {
  let at = 0;
  let found: string | undefined;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = parseInt(data.toString("latin1", at, space), 10);
    if (space < 0 || !(length > 0)) break;
    const record = data.toString("utf8", space + 1, at + length - 1);
    if (record.startsWith("path=")) found = record.slice("path=".length);
    at += length;
  }
  return found;
}

function cString(buffer: Buffer, start: number, end: number): string {
  const nul = buffer.indexOf(0, start);
  return buffer.toString("utf8", start, nul >= 0 && nul < end ? nul : end);
}
