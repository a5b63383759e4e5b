/**
 * Debug logs, one namespace per area (`meshbed:process`, `meshbed:docker`, `meshbed:ssh`…),
 * enabled like the `debug` package: `DEBUG=meshbed:*`, `DEBUG=meshbed:ssh,meshbed:mesh`,
 * `DEBUG=meshbed:*,-meshbed:health`. Written to stderr.
 *
 * Never pass a secret: log env variable names, not values; key fingerprints, not keys.
 */
export type DebugLog = ((message: string) => void) & { readonly enabled: boolean };

const started = Date.now();
let patterns: { include: RegExp[]; exclude: RegExp[] } | undefined;
let patternsOf: string | undefined;

function compile(spec: string): { include: RegExp[]; exclude: RegExp[] } {
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  for (const part of spec.split(/[\s,]+/).filter(Boolean)) {
    const negated = part.startsWith("-");
    const source = (negated ? part.slice(1) : part).replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
    (negated ? exclude : include).push(new RegExp(`^${source}$`));
  }
  return { include, exclude };
}

export function isDebugEnabled(namespace: string): boolean {
  const spec = process.env.DEBUG ?? "";
  if (patternsOf !== spec) {
    patterns = compile(spec);
    patternsOf = spec;
  }
  return patterns!.include.some((r) => r.test(namespace)) && !patterns!.exclude.some((r) => r.test(namespace));
}

/** A logger for `meshbed:<area>`; checks DEBUG when created, so a disabled one costs a call. */
export function debugFor(area: string): DebugLog {
  const namespace = `meshbed:${area}`;
  const enabled = isDebugEnabled(namespace);
  const log = enabled ? (message: string) => process.stderr.write(`${new Date().toISOString()} ${namespace} ${message} +${Date.now() - started}ms\n`) : () => {};
  return Object.assign(log, { enabled });
}

/** An env for a debug line: its names only. */
export function envNames(env: Readonly<Record<string, string>>): string {
  return Object.keys(env).join(",");
}
