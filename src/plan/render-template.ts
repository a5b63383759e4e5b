import type { ResolvedServiceFile } from "../topology/service-files.js";
import { interpolate, referencedVariables } from "./interpolate.js";

/** A template rendered: its text and the mode its file gets. */
export interface RenderedTemplate {
  readonly content: string;
  /** 0o600 when it refers to a secret-looking variable, else 0o644 (unless a mode was given). */
  readonly mode: number;
  /** The secret-looking variables it refers to (names only). */
  readonly secrets: readonly string[];
}

/** The words of a variable name that say its value is a secret. */
const SECRET_WORDS = /PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH/i;

/** Whether a variable's name says its value is a secret (`POSTGRES_PASSWORD`, `API_TOKEN`, `WG_PRIVATE_KEY`). */
export function looksSecret(name: string): boolean {
  return SECRET_WORDS.test(name);
}

/**
 * Renders a config template with a service's env, by the rules of env values (`${VAR}`,
 * `${VAR:-default}`, `$$`): one line at a time, so that an unknown variable is an
 * `E_UNKNOWN_VARIABLE` that names `file` and the line (a `${…}` does not span lines). The file
 * is 0600 when the template refers to a secret-looking variable, with or without a default.
 */
export function renderTemplate(text: string, env: Readonly<Record<string, string>>, where: { service: string; file: string; mode?: number | undefined }): RenderedTemplate {
  const lines = text.split("\n");
  const content = lines.map((line, i) => interpolate(line, [env], { service: where.service, field: `${where.file}:${i + 1}`, subject: `Line ${i + 1} of ${where.file}` })).join("\n");
  const secrets = referencedVariables(text).filter(looksSecret);
  return { content, mode: where.mode ?? (secrets.length > 0 ? 0o600 : 0o644), secrets };
}

/** What a runtime reads of the harness host for a `files` entry: a file's bytes and mode. */
export type ReadHostFile = (file: string) => { content: Buffer; mode: number };

/**
 * The bytes and mode of one `files` entry of a service (a container's, a process's): its content,
 * a host file as is, or a host template rendered with the service's env. `read` does the reading,
 * so that this stays pure.
 */
export function serviceFileContent(
  name: string,
  file: ResolvedServiceFile,
  service: { readonly name: string; readonly env: Readonly<Record<string, string>> },
  read: ReadHostFile,
): { content: Buffer; mode: number } {
  if ("content" in file) return { content: Buffer.from(file.content), mode: file.mode };
  if ("path" in file) {
    const host = read(file.path);
    return { content: host.content, mode: file.mode ?? host.mode };
  }
  const rendered = renderTemplate(read(file.template).content.toString("utf8"), service.env, {
    service: service.name,
    file: `the template ${file.template} (\`files["${name}"]\`)`,
    mode: file.mode,
  });
  return { content: Buffer.from(rendered.content), mode: rendered.mode };
}
