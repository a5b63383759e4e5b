import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ssh2 from "ssh2";
import type { AnyAuthMethod, ParsedKey } from "ssh2";
import { StartError } from "../errors.js";
import { fingerprint } from "./known-hosts.js";
import type { Destination } from "./ssh-destination.js";

const { utils, OpenSSHAgent } = ssh2;

/** One way to log in, with the words that name it in an error. */
export interface AuthAttempt {
  description: string;
  method: AnyAuthMethod;
}

export interface AuthPlan {
  attempts: AuthAttempt[];
  /** Keys that could not be used (encrypted, unreadable), said in the error if all else fails. */
  skipped: string[];
}

/**
 * The keys to try: the explicit key or file, the config's identity files, then (unless only
 * named keys are wanted) the agent's keys, then the default key files when no file was named.
 */
export async function planAuth(d: Destination, service: string | undefined, env = process.env): Promise<AuthPlan> {
  const attempts: AuthAttempt[] = [];
  const skipped: string[] = [];
  if (d.privateKey !== undefined) {
    const key = parse(d.privateKey, "`ssh.privateKey`", service, true)!;
    attempts.push({ description: `\`ssh.privateKey\` (${describeKey(key)})`, method: { type: "publickey", username: d.user, key } });
  }
  const addFiles = (files: readonly string[], explicit: boolean) => {
    for (const file of files) {
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch (error) {
        if (!explicit) continue;
        throw new StartError(`The SSH key file ${file} (\`ssh.identityFile\`) cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
          code: "E_SSH_AUTH",
          service,
          cause: error,
        });
      }
      const key = parse(text, file, service, explicit);
      if (key === undefined) {
        skipped.push(`key ${file} (encrypted or unreadable: load it into ssh-agent)`);
        continue;
      }
      attempts.push({ description: `key ${file} (${describeKey(key)})`, method: { type: "publickey", username: d.user, key } });
    }
  };
  addFiles(d.identityFiles, d.identityExplicit);
  if (d.identitiesOnly) return { attempts, skipped };
  const socket = env.SSH_AUTH_SOCK;
  if (socket) {
    const keys = await agentKeys(socket);
    if (keys.length > 0) {
      attempts.push({
        description: `ssh-agent at ${socket} (${keys.map((k) => describeKey(k)).join(", ")})`,
        method: { type: "agent", username: d.user, agent: socket },
      });
    }
  }
  if (d.identityFiles.length === 0)
    addFiles(
      ["id_ed25519", "id_ecdsa", "id_rsa"].map((n) => path.join(os.homedir(), ".ssh", n)),
      false,
    );
  return { attempts, skipped };
}

/** "ED25519 SHA256:… comment": how OpenSSH names a key. */
export function describeKey(key: ParsedKey): string {
  const type = key.type
    .replace(/^ssh-/, "")
    .replace(/^ecdsa-sha2-/, "ECDSA-")
    .toUpperCase();
  return `${type} ${fingerprint(key.getPublicSSH())}${key.comment ? ` ${key.comment}` : ""}`;
}

function parse(text: string, name: string, service: string | undefined, mustWork: boolean): ParsedKey | undefined {
  const parsed = utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || key === undefined) {
    if (!mustWork) return undefined;
    const why = key instanceof Error ? key.message : "no key found";
    throw new StartError(`The SSH key ${name} cannot be used: ${why}. Give an unencrypted OpenSSH or PEM private key, or load an encrypted one into ssh-agent`, { code: "E_SSH_AUTH", service });
  }
  return key;
}

function agentKeys(socket: string): Promise<ParsedKey[]> {
  return new Promise((resolve) => {
    const agent = new OpenSSHAgent(socket);
    agent.getIdentities((error, keys) => {
      // The agent hands back parsed keys; entries of other shapes carry no fingerprint to show.
      const parsed = (keys ?? []).filter((k): k is ParsedKey => typeof (k as ParsedKey).getPublicSSH === "function");
      resolve(error ? [] : parsed);
    });
  });
}
