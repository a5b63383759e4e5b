import { ConfigError } from "../errors.js";
import { closest } from "./did-you-mean.js";

/**
 * Where a value sits: the service it belongs to, the option as the user wrote it (`health.http`),
 * and, for YAML, the path in the file (`services.api.target.process.binary`).
 */
export class At {
  constructor(
    readonly service: string | undefined,
    readonly field: string,
    private readonly locate?: (field: string) => string,
  ) {}

  child(key: string | number): At {
    const field = typeof key === "number" ? `${this.field}[${key}]` : this.field ? `${this.field}.${key}` : key;
    return new At(this.service, field, this.locate);
  }

  get path(): string | undefined {
    return this.locate?.(this.field);
  }

  describe(): string {
    const owner = this.service === undefined ? "" : ` of service "${this.service}"`;
    if (this.field === "") return `the options${owner}`;
    return `\`${this.field}\`${owner}`;
  }
}

export function fail(at: At, message: string, code: "E_CONFIG" | "E_YAML" = "E_CONFIG"): never {
  const where = at.path ? ` (at ${at.path})` : "";
  throw new ConfigError(`${message}${where}`, { code, service: at.service });
}

export function expected(at: At, what: string, value: unknown): never {
  fail(at, `Expected ${at.describe()} to be ${what}, got ${show(value)}`);
}

export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "`null`";
  if (value instanceof RegExp) return `\`${String(value)}\` (RegExp)`;
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\` (${typeof value})`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function object(value: unknown, at: At, keys: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(value)) expected(at, "an object", value);
  for (const key of Object.keys(value)) {
    if (keys.includes(key)) continue;
    const guess = closest(key, keys);
    const hint = guess ? `: did you mean \`${guess}\`?` : `; known options: ${keys.join(", ")}`;
    fail(at.child(key), `Unknown option ${at.child(key).describe()}${hint}`);
  }
  return value;
}

export function string(value: unknown, at: At): string {
  if (typeof value !== "string" || value.length === 0) expected(at, "a non-empty string", value);
  if (value.includes("\0")) expected(at, "a string without NUL characters", value);
  return value;
}

export function optionalString(value: unknown, at: At): string | undefined {
  return value === undefined ? undefined : string(value, at);
}

export function integer(value: unknown, at: At, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    expected(at, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function port(value: unknown, at: At): number | undefined {
  return value === undefined ? undefined : integer(value, at, 0, 65535);
}

export function duration(value: unknown, at: At, fallback: number): number {
  return value === undefined ? fallback : integer(value, at, 1, 24 * 3600 * 1000);
}

export function boolean(value: unknown, at: At, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") expected(at, "true or false", value);
  return value;
}

export function stringArray(value: unknown, at: At, allowEmptyStrings = true): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) expected(at, "an array of strings", value);
  return value.map((item, i) => {
    // Numbers are accepted in args and commands (YAML writes `8080` unquoted) and become strings.
    if (typeof item === "number" && Number.isFinite(item)) return String(item);
    if (typeof item !== "string" || (!allowEmptyStrings && item === "")) {
      expected(at.child(i), allowEmptyStrings ? "a string" : "a non-empty string", item);
    }
    if (item.includes("\0")) expected(at.child(i), "a string without NUL characters", item);
    return item;
  });
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function envRecord(value: unknown, at: At): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) expected(at, "an object of string values", value);
  const env: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value)) {
    if (!ENV_NAME.test(key)) {
      fail(at.child(key), `Expected the name of ${at.child(key).describe()} to be a variable name (letters, digits, _), got ${show(key)}`);
    }
    // YAML writes numbers and booleans unquoted; they mean their text.
    if (typeof raw === "number" || typeof raw === "boolean") env[key] = String(raw);
    else if (typeof raw === "string" && !raw.includes("\0")) env[key] = raw;
    else expected(at.child(key), "a string", raw);
  }
  return env;
}
