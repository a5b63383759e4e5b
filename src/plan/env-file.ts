import { shellQuote } from "../host/shell-quote.js";

/** An env file that `source` (sh, bash) accepts and that no value can break out of. */
export function renderEnvFile(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([key, value]) => `export ${key}=${shellQuote(value)}\n`)
    .join("");
}
