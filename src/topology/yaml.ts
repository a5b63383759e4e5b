import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { ConfigError } from "../errors.js";
import { addService, emptyTopology } from "./topology-data.js";
import { closest } from "./did-you-mean.js";
import { validateHarnessOptions } from "./harness-options.js";
import { validateServiceName } from "./service-options.js";
import { TARGET_SCHEMAS } from "./targets.js";
import type { TargetKind, TopologySpec } from "./types.js";
import { At, isPlainObject } from "./validate.js";

const TARGET_KINDS: readonly TargetKind[] = ["process", "docker", "remote_lan", "wireguard"];
/** Keys a service takes beside `target`; `config` is the ADR's name for extra env values. */
const SERVICE_KEYS = ["target", "port", "env", "config", "depends_on", "health", "start_timeout_ms", "stop_timeout_ms", "restart", "faultable", "watch", "restart_with"];
/** Keys that may sit in the target block as well as beside it (the ADR writes both). */
const SHARED_IN_TARGET = ["port", "env", "health"];

/** Reads a `services.yaml` (the ADR's format) into a validated topology. */
export function loadTopologyFile(file: string): TopologySpec {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`Cannot read the topology file ${file}: ${(error as Error).message}`, { code: "E_CONFIG", cause: error });
  }
  return parseTopology(text, file, path.dirname(path.resolve(file)));
}

/**
 * Parses the ADR's YAML format. Relative paths of processes (`cwd`, and through it `binary`)
 * are taken from `baseDir`, the file's folder, as docker compose does.
 */
export function parseTopology(text: string, source = "services.yaml", baseDir = process.cwd()): TopologySpec {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    // Without prettyErrors the error has no linePos; the counter knows where its offset is.
    const pos = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
    throw new ConfigError(`${source}${pos ? `:${pos.line}:${pos.col}` : ""} is not valid YAML: ${error.message.split("\n")[0]}`, {
      code: "E_YAML",
      cause: error,
    });
  }
  const raw: unknown = doc.toJS();
  const root = new At(undefined, "", (field) => field);
  checkKeys(raw ?? {}, root, ["services", "network", "faults", "reuse"], source);
  const top = (raw ?? {}) as Record<string, unknown>;
  // Checked here, in the file's own snake_case, so that a suggestion is a key the file can use.
  if (top.network !== undefined)
    checkKeys(top.network, root.child("network"), ["wireguard_subnet", "lan_interface", "hub_endpoint", "dns", "dns_port", "wireguard_interface", "status_port"], source);
  if (top.faults !== undefined) checkKeys(top.faults, root.child("faults"), ["edges"], source);
  const options = validateHarnessOptions(
    { ...(top.network !== undefined && { network: camelKeys(top.network) }), ...(top.faults !== undefined && { faults: top.faults }), ...(top.reuse !== undefined && { reuse: top.reuse }) },
    (field) => snake(field),
  );
  if (!isPlainObject(top.services) || Object.keys(top.services).length === 0) {
    yamlError(`${source} has no services: add a \`services:\` map with at least one service`, "services");
  }
  let spec = emptyTopology(options);
  for (const [name, value] of Object.entries(top.services)) {
    const base = `services.${name}`;
    validateServiceName(name, new At(undefined, "name", () => base));
    const [kind, options, origin] = serviceOptions(name, value, base, source);
    if (kind === "process" && (options.cwd === undefined || typeof options.cwd === "string")) {
      options.cwd = path.resolve(baseDir, (options.cwd as string | undefined) ?? ".");
    }
    // A package lies beside the file, as a process's binary does.
    if ((kind === "remote_lan" || kind === "wireguard") && typeof options.package === "string") {
      options.package = path.resolve(baseDir, options.package);
    }
    // So do the host files and templates that `files` copies or renders.
    if ((kind === "process" || kind === "docker") && isPlainObject(options.files)) {
      options.files = Object.fromEntries(Object.entries(options.files).map(([name, file]) => [name, fromBaseDir(file, baseDir)]));
    }
    const locate = (field: string) => {
      const head = field.split(/[.[]/, 1)[0]!;
      const rest = field.slice(head.length);
      // `env.A` may come from `env:` beside `target`, inside it, or from `config:`: each variable knows where.
      return origin.get(field) ?? `${origin.get(head) ?? `${base}.${snake(head)}`}${head === "env" ? rest : snake(rest)}`;
    };
    spec = addService(spec, name, kind, options, new At(name, "", locate));
  }
  return spec;
}

/** A `files` entry with its `path` or `template` taken from `baseDir`; anything else as it is (validation reports it). */
function fromBaseDir(file: unknown, baseDir: string): unknown {
  if (!isPlainObject(file)) return file;
  const resolved = { ...file };
  for (const key of ["path", "template"]) if (typeof resolved[key] === "string" && resolved[key] !== "") resolved[key] = path.resolve(baseDir, resolved[key] as string);
  return resolved;
}

/** Merges a YAML service (service-level and target-level keys) into builder options. */
function serviceOptions(name: string, value: unknown, base: string, source: string): [TargetKind, Record<string, unknown>, Map<string, string>] {
  const at = new At(name, "", (f) => `${base}${f ? `.${f}` : ""}`);
  checkKeys(value, at, SERVICE_KEYS, source);
  const service = value as Record<string, unknown>;
  const target = service.target;
  if (!isPlainObject(target) || Object.keys(target).length !== 1 || !TARGET_KINDS.includes(Object.keys(target)[0] as TargetKind)) {
    const only = isPlainObject(target) && Object.keys(target).length === 1 ? Object.keys(target)[0]! : undefined;
    const guess = only === undefined ? undefined : closest(only, TARGET_KINDS);
    yamlError(
      `Expected \`target\` of service "${name}" to have exactly one of ${TARGET_KINDS.join(", ")}${only !== undefined ? `, got \`${only}\`${guess ? `: did you mean \`${guess}\`?` : ""}` : ""}`,
      only !== undefined ? `${base}.target.${only}` : `${base}.target`,
      name,
    );
  }
  const kind = Object.keys(target)[0] as TargetKind;
  const schema = TARGET_SCHEMAS[kind];
  if (!schema) yamlError(`Service "${name}" uses the ${kind} target, which this version of meshbed does not support yet`, `${base}.target.${kind}`, name);
  const targetBase = `${base}.target.${kind}`;
  const targetAt = new At(name, "", (f) => `${targetBase}${f ? `.${f}` : ""}`);
  const targetKeys = [...schema.keys.map(snake), ...SHARED_IN_TARGET];
  checkKeys(target[kind] ?? {}, targetAt, targetKeys, source);

  const options: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  const put = (entries: Record<string, unknown>, where: string) => {
    for (const [key, v] of Object.entries(entries)) {
      // `config:` is the ADR's name for more env values.
      const camel = key === "config" ? "env" : camelCase(key);
      if (camel === "target") continue;
      if (camel in options && camel !== "env") {
        yamlError(`\`${key}\` of service "${name}" is given twice (beside \`target\` and inside it): keep one`, `${where}.${key}`, name);
      }
      if (camel === "env") {
        // The ADR writes `env:` with only comments under it, which YAML reads as null.
        const vars = v ?? {};
        if (!isPlainObject(vars) || !isPlainObject(options.env ?? {})) {
          origin.set(camel, `${where}.${key}`);
          options.env = vars;
          continue;
        }
        for (const variable of Object.keys(vars)) origin.set(`env.${variable}`, `${where}.${key}.${variable}`);
        origin.set(camel, origin.get(camel) ?? `${where}.${key}`);
        options.env = { ...(options.env as object | undefined), ...vars };
        continue;
      }
      origin.set(camel, `${where}.${key}`);
      options[camel] = camel === "health" ? camelHealth(v) : camel === "restart" ? camelKeys(v) : v;
    }
  };
  put((target[kind] ?? {}) as Record<string, unknown>, targetBase);
  const { config, ...rest } = service;
  put(rest, base);
  if (config !== undefined) put({ config }, base);
  // A missing option of the target (`binary`) is reported where it belongs.
  for (const key of schema.keys) if (!origin.has(key)) origin.set(key, `${targetBase}.${snake(key)}`);
  return [kind, options, origin];
}

function checkKeys(value: unknown, at: At, keys: readonly string[], source: string): void {
  if (!isPlainObject(value)) {
    const what = at.service === undefined && at.field === "" ? "the top level" : at.describe();
    yamlError(`Expected ${what} to be a map in ${source}`, at.path ?? "", at.service);
  }
  for (const key of Object.keys(value)) {
    if (keys.includes(key)) continue;
    const guess = closest(key, keys);
    const where = at.child(key);
    yamlError(
      `Unknown key \`${key}\`${at.service ? ` in service "${at.service}"` : ""}${guess ? `: did you mean \`${guess}\`?` : `; known keys: ${keys.join(", ")}`}`,
      where.path ?? key,
      at.service,
    );
  }
}

function camelHealth(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const camel = camelCase(key);
    // `log_line: /ready on \d+/i` is a regular expression.
    const regex = camel === "logLine" && typeof v === "string" ? /^\/(.+)\/([gimsuy]*)$/.exec(v) : null;
    out[camel] = regex ? new RegExp(regex[1]!, regex[2]) : v;
  }
  return out;
}

function camelKeys(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camelCase(k), v]));
}

function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function yamlError(message: string, path: string, service?: string): never {
  throw new ConfigError(path ? `${message} (at ${path})` : message, { code: "E_YAML", service });
}
