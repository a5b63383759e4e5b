import { ConfigError } from "../errors.js";
import { closest } from "../topology/did-you-mean.js";

const PATTERN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (and `${VAR:-default}`) with values from `scopes`, searched in order;
 * `$$` is a literal `$`. An unknown variable without a default is an error naming the field.
 */
export function interpolate(text: string, scopes: readonly Readonly<Record<string, string | undefined>>[], where: { service: string; field: string }): string {
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
      `\`${where.field}\` of service "${where.service}" uses \${${name}}, which is not defined` +
        (guess ? `: did you mean \${${guess}}?` : `; write $\${${name}} for a literal, or \${${name}:-default}`),
      { code: "E_UNKNOWN_VARIABLE", service: where.service },
    );
  });
}
