import { parse as parseYaml } from "yaml";
import { HarnessError } from "../errors.js";

/** `manifest.yaml` of a package (ADR-007 §4). */
export interface PackageManifest {
  /** Letters, digits, `-`, `_`, `.`. */
  name: string;
  version: string;
  /** The primary port the service listens on: the service's `port` when its options give none. */
  port: number | undefined;
  /** Files (absolute paths) or commands (names on PATH) the node must have; checked before anything starts. */
  systemRequires: string[];
  /** The `network` section, kept as written (WireGuard settings for the mesh). */
  network: Record<string, unknown> | undefined;
  /** How long `scripts/setup.sh` may run (`setup_timeout`, in seconds, in the file). Default: 120 000 ms. */
  setupTimeoutMs: number;
}

/** Scripts every package has; `scripts/health.sh` is optional. */
export const REQUIRED_SCRIPTS = ["scripts/start.sh", "scripts/stop.sh"] as const;
export const HEALTH_SCRIPT = "scripts/health.sh";
/** Optional: runs once after the package is unpacked on the node, before start.sh. */
export const SETUP_SCRIPT = "scripts/setup.sh";
export const DEFAULT_SETUP_TIMEOUT_S = 120;
const KNOWN_KEYS = ["name", "version", "port", "system_requires", "network", "description", "setup_timeout"];

/** An invalid package: the message names the file and the field. */
export function packageError(where: string, message: string, cause?: unknown): HarnessError {
  return new HarnessError(`Invalid package ${where}: ${message}`, { code: "E_PACKAGE_INVALID", cause });
}

/** Parses and checks `manifest.yaml`; `where` names the package in errors. */
export function parseManifest(text: string, where: string): PackageManifest {
  const file = `${where}: manifest.yaml`;
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw packageError(file, `it is not valid YAML (${(error as Error).message.split("\n")[0]})`, error);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw packageError(file, "expected a mapping with `name`, `version` and `port`");
  const m = data as Record<string, unknown>;
  for (const key of Object.keys(m)) {
    if (!KNOWN_KEYS.includes(key)) throw packageError(file, `unknown field \`${key}\`; known fields: ${KNOWN_KEYS.join(", ")}`);
  }
  if (typeof m.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(m.name)) {
    throw packageError(file, `\`name\` must be letters, digits, -, _ and ., got ${JSON.stringify(m.name)}`);
  }
  if ((typeof m.version !== "string" && typeof m.version !== "number") || String(m.version).trim() === "") {
    throw packageError(file, `\`version\` must be a string such as "1.0.0", got ${JSON.stringify(m.version)}`);
  }
  if (m.port !== undefined && (typeof m.port !== "number" || !Number.isInteger(m.port) || m.port < 1 || m.port > 65535)) {
    throw packageError(file, `\`port\` must be an integer from 1 to 65535, got ${JSON.stringify(m.port)}`);
  }
  const requires = m.system_requires ?? [];
  if (!Array.isArray(requires) || requires.some((r) => typeof r !== "string" || r.trim() === "" || /[\n\0]/.test(r))) {
    throw packageError(file, `\`system_requires\` must be a list of paths or command names, got ${JSON.stringify(m.system_requires)}`);
  }
  if (m.network !== undefined && (typeof m.network !== "object" || m.network === null || Array.isArray(m.network))) {
    throw packageError(file, "`network` must be a mapping");
  }
  const setupTimeout = m.setup_timeout ?? DEFAULT_SETUP_TIMEOUT_S;
  if (typeof setupTimeout !== "number" || !Number.isFinite(setupTimeout) || setupTimeout <= 0 || setupTimeout > 24 * 3600) {
    throw packageError(file, `\`setup_timeout\` must be a number of seconds from 1 to 86400 (how long scripts/setup.sh may run), got ${JSON.stringify(m.setup_timeout)}`);
  }
  return {
    name: m.name,
    version: String(m.version),
    port: m.port as number | undefined,
    systemRequires: requires as string[],
    network: m.network as Record<string, unknown> | undefined,
    setupTimeoutMs: Math.round(setupTimeout * 1000),
  };
}

/**
 * Checks the files of a package (archive paths): the required scripts are there, every `scripts/*.sh`
 * (start, stop, health, setup) is executable, and no config template renders over a file the package
 * has (`config/app.conf.template` and `config/app.conf`).
 */
export function checkFiles(files: ReadonlyMap<string, { mode: number }>, where: string): void {
  for (const script of REQUIRED_SCRIPTS) {
    const file = files.get(script);
    if (!file) throw packageError(`${where}: ${script}`, `the file is missing; every package has ${REQUIRED_SCRIPTS.join(" and ")}`);
  }
  for (const [name, { mode }] of files) {
    if (/^scripts\/[^/]+\.sh$/.test(name) && (mode & 0o100) === 0) {
      throw packageError(
        `${where}: ${name}`,
        `the script is not executable (mode ${mode.toString(8).padStart(4, "0")}): build the package with \`meshbed pack <dir>\`, which makes scripts/*.sh executable, or chmod +x it`,
      );
    }
    const target = templateTarget(name);
    if (target !== undefined && files.has(target)) {
      throw packageError(`${where}: ${name}`, `the template renders to ${target}, which the package also has: remove one of them`);
    }
  }
}

/** `config/app.conf.template` (at any depth under `config/`) → `config/app.conf`; else undefined. */
export function templateTarget(name: string): string | undefined {
  return name.startsWith("config/") ? /^(.*[^/])\.template$/.exec(name)?.[1] : undefined;
}
