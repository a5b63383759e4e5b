import { closest } from "./did-you-mean.js";
import type { HealthCheck } from "./types.js";
import { type At, expected, fail, isPlainObject, integer, string, stringArray } from "./validate.js";

const KINDS = ["tcp", "http", "command", "logLine"] as const;

export function validateHealth(value: unknown, at: At): HealthCheck | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) expected(at, `an object with one of ${KINDS.map((k) => `\`${k}\``).join(", ")}`, value);
  const kinds = KINDS.filter((k) => k in value);
  // `{ htp: "/" }` is a typo of a kind, not a check of no kind.
  const unknown = kinds.length === 0 ? Object.keys(value).find((k) => k !== "status") : undefined;
  const guess = unknown === undefined ? undefined : closest(unknown, KINDS);
  if (unknown !== undefined && guess) fail(at.child(unknown), `Unknown option ${at.child(unknown).describe()}: did you mean \`${guess}\`?`);
  if (kinds.length !== 1) {
    fail(at, `Expected ${at.describe()} to have exactly one of ${KINDS.join(", ")}, got ${kinds.length === 0 ? "none" : kinds.join(" and ")}`);
  }
  const extra = Object.keys(value).filter((k) => !(KINDS as readonly string[]).includes(k) && k !== "status");
  if (extra.length > 0 || ("status" in value && !("http" in value))) {
    fail(at.child(extra[0] ?? "status"), `Unknown option ${at.child(extra[0] ?? "status").describe()} for a ${kinds[0]} check`);
  }
  if ("tcp" in value) {
    if (value.tcp !== true) expected(at.child("tcp"), "true", value.tcp);
    return { tcp: true };
  }
  if ("http" in value) {
    const path = string(value.http, at.child("http"));
    if (!path.startsWith("/")) expected(at.child("http"), 'a path starting with "/"', path);
    if ("status" in value) {
      const raw = value.status;
      const status = Array.isArray(raw) ? raw.map((s, i) => integer(s, at.child("status").child(i), 100, 599)) : integer(raw, at.child("status"), 100, 599);
      return { http: path, status };
    }
    return { http: path };
  }
  if ("command" in value) {
    const command = stringArray(value.command, at.child("command"));
    if (command.length === 0) expected(at.child("command"), "a non-empty argv array", value.command);
    return { command };
  }
  const line = value.logLine;
  if (line instanceof RegExp) return { logLine: line };
  return { logLine: string(line, at.child("logLine")) };
}
