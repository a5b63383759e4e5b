import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { TopologySpec } from "../topology/types.js";

/**
 * What identifies a reusable run (`reuse: true`): `key` names the topology's slot (the directory it
 * was started from and its service names), `hash` its content: the normalized
 * spec and the inputs that change what it starts without changing the spec — each process binary's
 * mtime and size (and of each argument that names an existing file: `node server.mjs`), each package's
 * and each build context's files. A live run with the same key and hash is attached to; one with the
 * same key and another hash is stale.
 */
export interface TopologyIdentity {
  key: string;
  hash: string;
}

export function topologyIdentity(spec: TopologySpec, cwd = process.cwd()): TopologyIdentity {
  // Neither the option itself nor the run id (the owner is given one; `meshbed up --run-id`) tells topologies apart.
  const { reuse: _reuse, runId: _runId, ...rest } = spec.options;
  // Where the status is served is no part of the topology (`meshbed up -d --status-port`, then a runner).
  const { statusPort: _statusPort, ...network } = rest.network ?? {};
  const options = { ...rest, network };
  const names = spec.services.map((s) => s.name).sort();
  const key = sha(`${cwd}\0${names.join(",")}`).slice(0, 16);
  const inputs: string[] = [];
  for (const service of spec.services) {
    const o = service.options as Record<string, unknown>;
    const base = typeof o.cwd === "string" ? path.resolve(cwd, o.cwd) : cwd;
    if (service.target === "process") {
      inputs.push(stamp(resolveBinary(o.binary as string, base)));
      for (const arg of service.args) if (!arg.includes("${") && !arg.startsWith("-")) inputs.push(stampIfFile(path.resolve(base, arg)));
    }
    if (typeof o.package === "string") inputs.push(stampTree(path.resolve(cwd, o.package)));
    const build = o.build as { context?: string } | undefined;
    if (build?.context) inputs.push(stampTree(path.resolve(cwd, build.context)));
  }
  const hash = sha(canonical({ options, services: spec.services }) + inputs.join("\n"));
  return { key, hash };
}

/** JSON with sorted keys and no empty objects: `network: {}` (what merging options leaves) is no option. */
function canonical(value: unknown): string {
  const plain = JSON.parse(JSON.stringify(value, jsonSafe));
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v === null || typeof v !== "object") return v;
    const entries = Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => [k, norm(x)] as const)
      .filter(([, x]) => !(x !== null && typeof x === "object" && !Array.isArray(x) && Object.keys(x).length === 0))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries);
  };
  return JSON.stringify(norm(plain));
}

/** JSON of a spec, with what JSON drops kept: a RegExp (`health.logLine`) as `{ $regexp, flags }`. */
export function jsonSafe(_key: string, value: unknown): unknown {
  return value instanceof RegExp ? { $regexp: value.source, flags: value.flags } : value;
}

/** The reviver of `jsonSafe`'s JSON. */
export function jsonRevive(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && "$regexp" in value) {
    const { $regexp, flags } = value as { $regexp: string; flags: string };
    return new RegExp($regexp, flags);
  }
  return value;
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A path (relative to the process's cwd) or a name on PATH, as the process runtime resolves it. */
export function resolveBinary(binary: string, cwd: string): string {
  if (binary.includes("/")) return path.resolve(cwd, binary);
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir || ".", binary);
    if (fs.existsSync(candidate)) return candidate;
  }
  return binary;
}

function stamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${file}:${st.mtimeMs}:${st.size}`;
  } catch {
    return `${file}:missing`;
  }
}

function stampIfFile(file: string): string {
  try {
    return fs.statSync(file).isFile() ? stamp(file) : "";
  } catch {
    return "";
  }
}

/** A file's stamp, or every file's of a directory (a package folder, a build context). */
function stampTree(root: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch {
    return `${root}:missing`;
  }
  if (!st.isDirectory()) return stamp(root);
  const entries = fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[];
  return entries
    .filter((e) => e.isFile())
    .map((e) => stamp(path.join(e.parentPath ?? e.path, e.name)))
    .sort()
    .join("\n");
}
