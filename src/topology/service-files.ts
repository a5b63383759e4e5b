import path from "node:path";
import { type At, expected, fail, integer, isPlainObject, object, string } from "./validate.js";

/**
 * A file the harness writes for a service before it starts (a container's or a process's `files`):
 * its content, a file of the harness host, or a template of the harness host rendered with the
 * service's env.
 */
export type ServiceFile =
  /** The file's content (UTF-8), mode 0644. */
  | string
  /** The file's content; `mode` default 0o644. */
  | { content: string; mode?: number }
  /** A file of the harness host, copied as is (relative to the harness process's cwd; in YAML, the file's folder); `mode` default: the host file's. */
  | { path: string; mode?: number }
  /**
   * A template of the harness host (relative like `path`), rendered with the service's env: `${VAR}`,
   * `${VAR:-default}`, `$$` for a literal `$`, as env values are; an unknown variable is an error that
   * names the template and the line. `mode` default: 0o600 when it refers to a secret-looking variable
   * (a name with PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL…), else 0o644.
   */
  | { template: string; mode?: number };

/** A `files` entry after validation. */
export type ResolvedServiceFile = { content: string; mode: number } | { path: string; mode: number | undefined } | { template: string; mode: number | undefined };

/**
 * How the names of a `files` option are read: a container's are absolute paths inside it; a
 * process's are relative paths under its files dir (nothing of the harness host outside the run's dir
 * is written).
 */
export type FileNames = "absolute" | "relative";

/** Validates a `files` option: names as `names` says, each entry exactly one of `content`, `path`, `template`. */
export function validateServiceFiles(value: unknown, at: At, names: FileNames): Record<string, ResolvedServiceFile> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) expected(at, names === "absolute" ? "an object of absolute container paths to contents" : "an object of relative paths to contents", value);
  const files: Record<string, ResolvedServiceFile> = {};
  for (const [name, raw] of Object.entries(value)) {
    const here = at.child(name);
    checkName(name, here, at, names);
    if (typeof raw === "string") {
      files[name] = { content: raw, mode: 0o644 };
      continue;
    }
    const entry = object(raw, here, ["content", "path", "template", "mode"]);
    const mode = entry.mode === undefined ? undefined : integer(entry.mode, here.child("mode"), 0, 0o7777);
    const given = (["content", "path", "template"] as const).filter((k) => entry[k] !== undefined);
    if (given.length !== 1)
      fail(here, `Expected ${here.describe()} to have exactly one of \`content\`, \`path\` and \`template\`${given.length > 1 ? `, got ${given.map((k) => `\`${k}\``).join(" and ")}` : ""}`);
    if (entry.path !== undefined) files[name] = { path: string(entry.path, here.child("path")), mode };
    else if (entry.template !== undefined) files[name] = { template: string(entry.template, here.child("template")), mode };
    else if (typeof entry.content === "string") files[name] = { content: entry.content, mode: mode ?? 0o644 };
    else expected(here.child("content"), "a string", entry.content);
  }
  return files;
}

function checkName(name: string, here: At, at: At, names: FileNames): void {
  const normal = path.posix.normalize(name);
  if (names === "absolute") {
    if (!name.startsWith("/") || normal === "/" || name.endsWith("/") || normal !== name) {
      fail(here, `Expected the file name ${show(name)} in ${at.describe()} to be an absolute, normalized path of a file ("/etc/app.conf")`);
    }
    return;
  }
  if (name.startsWith("/") || name.endsWith("/") || normal !== name || normal === "." || normal.split("/").includes("..") || name.includes("\0")) {
    fail(
      here,
      `Expected the file name ${show(name)} in ${at.describe()} to be a relative, normalized path of a file without .. ("app.conf", "conf/app.conf"): a process's files are written under its \`HARNESS_FILES_DIR\``,
    );
  }
}

function show(text: string): string {
  return `\`${JSON.stringify(text)}\``;
}
