import fs from "node:fs";
import path from "node:path";
import { isUtf8 } from "node:buffer";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import zlib from "node:zlib";
import tar from "tar-stream";
import { debugFor } from "../debug.js";
import { HEALTH_SCRIPT, type PackageManifest, SETUP_SCRIPT, checkFiles, packageError, parseManifest, templateTarget } from "./manifest.js";

/** A package read and checked: what the SSH runtime uploads. */
export interface ServicePackage {
  /** Where it came from (a .tar.gz or a directory). */
  source: string;
  manifest: PackageManifest;
  /** The gzipped tarball. */
  archive: Buffer;
  /** Paths inside it ("scripts/start.sh"). */
  files: readonly string[];
  hasHealthScript: boolean;
  /** Whether it has `scripts/setup.sh`, run once after unpacking, before start.sh. */
  hasSetupScript: boolean;
  /** Its config templates (`config/**\/*.template`), rendered with the service's env on deploy. */
  templates: readonly PackageTemplate[];
}

/** A config template of a package: `config/app.conf.template`, rendered into `config/app.conf`. */
export interface PackageTemplate {
  /** Its path in the package. */
  file: string;
  /** The path it renders to, beside it. */
  target: string;
  text: string;
}

export interface PackResult {
  file: string;
  manifest: PackageManifest;
  bytes: number;
}

/** Every entry's time: the same directory always packs to the same bytes. */
const FIXED_MTIME = new Date("2000-01-01T00:00:00Z");
const gzip = promisify(zlib.gzip);
const log = debugFor("package");
const gunzip = promisify(zlib.gunzip);

/**
 * Builds a package (ADR-007 §4) from `dir`: checks `manifest.yaml`, the required scripts and the
 * config templates, makes `scripts/*.sh` (setup.sh too) executable, and writes `out` (default `<name>-<version>.tar.gz` in the cwd).
 */
export async function pack(dir: string, out?: string): Promise<PackResult> {
  const { manifest, archive } = await packDirectory(dir);
  const file = path.resolve(out ?? `${manifest.name}-${manifest.version}.tar.gz`);
  await fs.promises.writeFile(file, archive);
  log(`packed ${manifest.name} ${manifest.version} from ${dir} into ${file} (${archive.length} bytes)`);
  return { file, manifest, bytes: archive.length };
}

/** Reads a package (.tar.gz, or a directory packed on the fly) and checks it. */
export async function readPackage(source: string): Promise<ServicePackage> {
  log(`read ${source}`);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(source);
  } catch {
    throw packageError(source, "the file does not exist: build it with `meshbed pack <dir>`, or fix `package`");
  }
  if (stat.isDirectory()) {
    const { manifest, archive, files, contents } = await packDirectory(source);
    return described(source, manifest, archive, files, contents);
  }
  const archive = await fs.promises.readFile(source);
  let tarball: Buffer;
  try {
    tarball = await gunzip(archive);
  } catch (error) {
    throw packageError(source, "it is not a gzipped tarball (.tar.gz)", error);
  }
  const files = new Map<string, { mode: number }>();
  /** Whatever is read past the listing: the manifest and the templates. */
  const contents = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const name = header.name.replace(/^\.\//, "").replace(/\/$/, "");
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        if (name !== "" && header.type !== "directory") files.set(name, { mode: header.mode ?? 0o644 });
        if (header.type === "file" && (name === "manifest.yaml" || templateTarget(name) !== undefined)) contents.set(name, Buffer.concat(chunks));
        next();
      });
      stream.on("error", reject);
      if (name.startsWith("/") || name.split("/").includes("..")) {
        reject(packageError(`${source}: ${header.name}`, "an entry outside the package dir (absolute or with ..) is not allowed"));
      }
    });
    extract.on("finish", resolve);
    extract.on("error", (error: Error) => reject(packageError(source, `it is not a valid tarball (${error.message})`, error)));
  });
  Readable.from([tarball]).pipe(extract);
  await done;
  const manifestText = contents.get("manifest.yaml");
  if (manifestText === undefined) throw packageError(`${source}: manifest.yaml`, "the file is missing; every package has one at its top");
  const manifest = parseManifest(manifestText.toString("utf8"), source);
  checkFiles(files, source);
  return described(source, manifest, archive, files, contents);
}

/** The package as the runtime uses it; a template that is not text is refused here. */
function described(source: string, manifest: PackageManifest, archive: Buffer, files: ReadonlyMap<string, { mode: number }>, contents: ReadonlyMap<string, Buffer>): ServicePackage {
  const templates: PackageTemplate[] = [];
  for (const name of files.keys()) {
    const target = templateTarget(name);
    const bytes = contents.get(name);
    if (target === undefined || bytes === undefined) continue;
    if (!isUtf8(bytes)) throw packageError(`${source}: ${name}`, "a config template must be UTF-8 text");
    templates.push({ file: name, target, text: bytes.toString("utf8") });
  }
  return { source, manifest, archive, files: [...files.keys()], hasHealthScript: files.has(HEALTH_SCRIPT), hasSetupScript: files.has(SETUP_SCRIPT), templates };
}

interface PackedDirectory {
  manifest: PackageManifest;
  archive: Buffer;
  files: Map<string, { mode: number }>;
  /** The templates' bytes. */
  contents: Map<string, Buffer>;
}

async function packDirectory(dir: string): Promise<PackedDirectory> {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw packageError(dir, "it is not a directory");
  const manifestFile = path.join(root, "manifest.yaml");
  if (!fs.existsSync(manifestFile)) throw packageError(`${dir}: manifest.yaml`, "the file is missing; every package has one at its top");
  const manifest = parseManifest(await fs.promises.readFile(manifestFile, "utf8"), dir);
  const entries = await walk(root, "");
  // Symlinks too, as a tarball lists them: a template must not render over one.
  const files = new Map(entries.filter((e) => e.type !== "directory").map((e) => [e.name, { mode: e.mode }]));
  checkFiles(files, dir);
  const contents = new Map<string, Buffer>();

  const packer = tar.pack();
  const chunks: Buffer[] = [];
  packer.on("data", (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    packer.on("end", resolve);
    packer.on("error", reject);
  });
  for (const entry of entries) {
    const header = { name: entry.name, mode: entry.mode, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: "root", gname: "root" };
    if (entry.type === "directory") packer.entry({ ...header, type: "directory" });
    else if (entry.type === "symlink") packer.entry({ ...header, type: "symlink", linkname: entry.target! });
    else {
      const bytes = await fs.promises.readFile(path.join(root, entry.name));
      if (templateTarget(entry.name) !== undefined) contents.set(entry.name, bytes);
      packer.entry({ ...header, type: "file" }, bytes);
    }
  }
  packer.finalize();
  await ended;
  return { manifest, archive: await gzip(Buffer.concat(chunks), { level: 9 }), files, contents };
}

interface WalkEntry {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  target?: string;
}

/** The dir's entries, sorted, with the scripts made executable (the harness runs them directly). */
async function walk(root: string, prefix: string): Promise<WalkEntry[]> {
  const result: WalkEntry[] = [];
  const names = (await fs.promises.readdir(path.join(root, prefix))).sort();
  for (const name of names) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const full = path.join(root, rel);
    const stat = await fs.promises.lstat(full);
    if (stat.isDirectory()) {
      result.push({ name: rel, type: "directory", mode: stat.mode & 0o7777 });
      result.push(...(await walk(root, rel)));
    } else if (stat.isSymbolicLink()) {
      result.push({ name: rel, type: "symlink", mode: 0o777, target: await fs.promises.readlink(full) });
    } else if (stat.isFile()) {
      const executable = /^scripts\/[^/]+\.sh$/.test(rel) || rel.startsWith("bin/");
      result.push({ name: rel, type: "file", mode: (stat.mode & 0o7777) | (executable ? 0o755 : 0) });
    }
  }
  return result;
}
