import fs from "node:fs";
import path from "node:path";
import { HarnessError } from "../errors.js";
import type { TopologySpec } from "../topology/types.js";
import type { Harness } from "./harness.js";
import { resolveBinary } from "./topology-hash.js";

/** Changes closer together than this make one restart (an editor's save, a linker's several writes). */
export const WATCH_DEBOUNCE_MS = 50;

export interface WatchOptions {
  /** One line per restart (and per failed one, with the log that it kept). */
  report: (line: string) => void;
  signal: AbortSignal;
  debounceMs?: number;
}

/** A glob relative to a folder as a RegExp over relative paths: `**` any folders, `*` within a name, `?` one character. */
export function globRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      // `**/` matches no folder too.
      out += glob[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += glob[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** The folder a glob's matches are all under: its leading parts without a wildcard. */
function globRoot(glob: string): string {
  const parts = glob.split("/");
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (/[*?]/.test(part)) break;
    fixed.push(part);
  }
  return fixed.join("/");
}

/**
 * `meshbed up --watch`: restarts a service (same port, address and env, `handle.restart()`) when its
 * binary, a file its `watch` globs name (relative to its cwd) or its package's folder changes, and
 * after it every service that names it in `restartWith` (and theirs). Debounced; one restart of a
 * service at a time (a change during one makes one more after it). Watches until `signal`.
 */
export function watchServices(harness: Harness, spec: TopologySpec, options: WatchOptions): void {
  const debounce = options.debounceMs ?? WATCH_DEBOUNCE_MS;
  const watchers: fs.FSWatcher[] = [];
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const dependents = new Map<string, string[]>();
  for (const s of spec.services) for (const dep of s.restartWith ?? []) dependents.set(dep, [...(dependents.get(dep) ?? []), s.name]);

  const restartOne = async (name: string, reason: string): Promise<void> => {
    const t0 = performance.now();
    try {
      await harness.service(name).restart();
      options.report(`${clock()} ${name} restarted in ${Math.round(performance.now() - t0)} ms (${reason})`);
    } catch (error) {
      const e = error as HarnessError;
      const tail = e instanceof HarnessError && e.logTail.length > 0 ? `\n  ${e.logTail.join("\n  ")}` : "";
      options.report(`${clock()} ${name} failed to restart after ${Math.round(performance.now() - t0)} ms (${reason}): ${e.message}${tail}`);
      throw error;
    }
  };

  /** The service, then the ones that restart with it, level by level (each once). */
  const restart = async (name: string, reason: string): Promise<void> => {
    await restartOne(name, reason);
    const done = new Set([name]);
    let level = dependents.get(name) ?? [];
    while (level.length > 0) {
      const now = level.filter((n) => !done.has(n));
      for (const n of now) done.add(n);
      await Promise.all(now.map((n) => restartOne(n, `with ${name}`)));
      level = now.flatMap((n) => dependents.get(n) ?? []);
    }
  };

  const trigger = (name: string, reason: string) => {
    if (options.signal.aborted) return;
    clearTimeout(timers.get(name));
    timers.set(
      name,
      setTimeout(() => {
        timers.delete(name);
        if (running.has(name)) {
          again.add(name);
          return;
        }
        const go = (why: string): Promise<void> =>
          restart(name, why)
            .catch(() => {})
            .then(() => {
              if (again.delete(name) && !options.signal.aborted) return go("changed again");
              running.delete(name);
            });
        running.set(name, go(reason));
      }, debounce),
    );
  };

  const watch = (target: string, recursive: boolean, onChange: (file: string) => void) => {
    try {
      const watcher = fs.watch(target, { recursive, persistent: false }, (_event, file) => onChange(file ? path.join(target, file.toString()) : target));
      watcher.on("error", () => {});
      watchers.push(watcher);
    } catch (error) {
      throw new HarnessError(`--watch cannot watch ${target}: ${(error as Error).message}`, { code: "E_CONFIG", cause: error });
    }
  };

  for (const service of spec.services) {
    const o = service.options as Record<string, unknown>;
    const cwd = typeof o.cwd === "string" ? path.resolve(o.cwd) : process.cwd();
    const files: string[] = [];
    if (service.target === "process") {
      files.push(resolveBinary(o.binary as string, cwd));
      for (const arg of service.args) if (!arg.includes("${") && !arg.startsWith("-")) files.push(path.resolve(cwd, arg));
    }
    if (typeof o.package === "string") {
      const pkg = path.resolve(o.package);
      if (isDir(pkg)) watch(pkg, true, (file) => trigger(service.name, `${path.relative(cwd, file)} changed`));
      else files.push(pkg);
    }
    // A file is watched through its folder: a rebuild that writes a new file and renames it over the old one is seen too.
    const byDir = new Map<string, Set<string>>();
    for (const file of files.filter(isFile)) byDir.set(path.dirname(file), (byDir.get(path.dirname(file)) ?? new Set()).add(path.basename(file)));
    for (const [dir, names] of byDir) {
      watch(dir, false, (file) => {
        if (names.has(path.basename(file))) trigger(service.name, `${path.relative(cwd, file) || file} changed`);
      });
    }
    for (const glob of service.watch ?? []) {
      const root = path.resolve(cwd, globRoot(glob));
      const match = globRegExp(glob);
      if (!isDir(root)) throw new HarnessError(`Service "${service.name}": \`watch\` glob "${glob}" is under ${root}, which is not a folder`, { code: "E_CONFIG", service: service.name });
      watch(root, true, (file) => {
        const rel = path.relative(cwd, file);
        if (match.test(rel)) trigger(service.name, `${rel} changed`);
      });
    }
  }
  options.signal.addEventListener(
    "abort",
    () => {
      for (const w of watchers) w.close();
      for (const t of timers.values()) clearTimeout(t);
    },
    { once: true },
  );
}

function clock(): string {
  return new Date().toISOString().slice(11, 23);
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function isDir(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
