import { ConfigError } from "../errors.js";
import { closest } from "../topology/did-you-mean.js";

const PATTERN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Where an interpolated text comes from, for the error that an unknown variable makes. */
export interface InterpolationSite {
  service: string;
  /** The option as the user wrote it (`env.URL`): the message reads "`env.URL` of service …". */
  field: string;
  /** Overrides how the message names the text ("Line 3 of config/app.conf.template"); default: `` `field` ``. */
  subject?: string;
}

/**
 * Replaces `${VAR}` (and `${VAR:-default}`) with values from `scopes`, searched in order;
 * `$$` is a literal `$`. An unknown variable without a default is an error naming the field.
 */
export function interpolate(text: string, scopes: readonly Readonly<Record<string, string | undefined>>[], where: InterpolationSite): string {
  return text.replace(PATTERN, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === "$$") return "$";
    for (const scope of scopes) {
      const value = scope[name!];
      // `:-` takes the default for an empty value too, as sh and docker compose do.
      if (value !== undefined) return value === "" && fallback !== undefined ? fallback : value;
    }
    if (fallback !== undefined) return fallback;
    const known = scopes.flatMap((s) => Object.keys(s));
    const guess = closest(name!, known);
    throw new ConfigError(
      `${where.subject ?? `\`${where.field}\``} of service "${where.service}" uses \${${name}}, which is not defined` +
        (guess ? `: did you mean \${${guess}}?` : `; write $\${${name}} for a literal, or \${${name}:-default}`),
      { code: "E_UNKNOWN_VARIABLE", service: where.service },
    );
  });
}

/** The names of the variables `text` refers to (`${VAR}`, `${VAR:-default}`), in order, each once. */
export function referencedVariables(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(PATTERN)) if (match[1] !== undefined) names.add(match[1]);
  return [...names];
}
