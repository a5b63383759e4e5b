import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** What known_hosts files say about a host's key. */
export type HostKeyVerdict =
  /** The key is recorded for the host. */
  | { status: "known"; where: string }
  /** Nothing is recorded for the host with this key type (`otherTypes`: types that are). */
  | { status: "unknown"; otherTypes: string[] }
  /** Another key of the same type is recorded: a changed host key, possibly an attack. */
  | { status: "changed"; where: string; recorded: string }
  /** The key is marked `@revoked`. */
  | { status: "revoked"; where: string };

interface Entry {
  file: string;
  line: number;
  marker: string | undefined;
  patterns: string[];
  type: string;
  blob: Buffer;
}

/** The name a host is recorded under: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type inside an SSH public key blob ("ssh-ed25519"). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "unknown";
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString("ascii");
}

/** OpenSSH's fingerprint: "SHA256:" and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Checks `blob` for any of `names` (the host's name, its alias) against every file. */
export function checkHostKey(files: readonly string[], names: readonly string[], blob: Buffer): HostKeyVerdict {
  const type = keyTypeOf(blob);
  const entries = files.flatMap(readEntries).filter((e) => e.marker !== "@cert-authority" && names.some((n) => matchesHost(e.patterns, n)));
  const revoked = entries.find((e) => e.marker === "@revoked" && e.blob.equals(blob));
  if (revoked) return { status: "revoked", where: `${revoked.file}:${revoked.line}` };
  const live = entries.filter((e) => e.marker === undefined);
  const known = live.find((e) => e.type === type && e.blob.equals(blob));
  if (known) return { status: "known", where: `${known.file}:${known.line}` };
  const changed = live.find((e) => e.type === type);
  if (changed) return { status: "changed", where: `${changed.file}:${changed.line}`, recorded: fingerprint(changed.blob) };
  return { status: "unknown", otherTypes: [...new Set(live.map((e) => e.type))] };
}

/** The key types recorded for the host, so that the handshake can prefer them (as OpenSSH does). */
export function knownKeyTypes(files: readonly string[], names: readonly string[]): string[] {
  const entries = files.flatMap(readEntries).filter((e) => e.marker === undefined && names.some((n) => matchesHost(e.patterns, n)));
  return [...new Set(entries.map((e) => e.type))];
}

/** Adds a host key (for "accept-new"), creating the file (0600) and its dir (0700) if needed. */
export function appendHostKey(file: string, name: string, blob: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = "";
  try {
    const text = fs.readFileSync(file, "utf8");
    if (text.length > 0 && !text.endsWith("\n")) prefix = "\n";
  } catch {
    // A new file.
  }
  fs.appendFileSync(file, `${prefix}${name} ${keyTypeOf(blob)} ${blob.toString("base64")}\n`, { mode: 0o600 });
}

function readEntries(file: string): Entry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const entries: Entry[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = line.split(/\s+/);
    const marker = words[0]!.startsWith("@") ? words.shift() : undefined;
    const [patterns, type, key] = words;
    if (!patterns || !type || !key) continue;
    entries.push({ file, line: i + 1, marker, patterns: patterns.split(","), type, blob: Buffer.from(key, "base64") });
  }
  return entries;
}

/** OpenSSH's host pattern list: wildcards `*` and `?`, negation `!`, hashed `|1|salt|hash` entries. */
export function matchesHost(patterns: readonly string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith("!");
    const body = negated ? pattern.slice(1) : pattern;
    if (!matchOne(body, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function matchOne(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    const actual = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
    const wanted = Buffer.from(hash, "base64");
    return actual.length === wanted.length && timingSafeEqual(actual, wanted);
  }
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return regex.test(name);
}
