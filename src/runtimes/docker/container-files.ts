import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { StartError } from "../../errors.js";
import { renderEnvFile } from "../../plan/env-file.js";
import type { PlannedService } from "../../plan/plan.js";
import type { ContainerFile } from "./docker-options.js";
import { type TarFile, tarFiles } from "./tar.js";

/**
 * Reads each host file a service copies into its container; a missing one is reported in preflight,
 * before anything is created.
 */
export function checkHostFiles(service: string, files: Readonly<Record<string, ContainerFile>>): void {
  for (const [target, file] of Object.entries(files)) {
    if (!("path" in file)) continue;
    const full = path.resolve(file.path);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (!stat?.isFile()) {
      throw new StartError(`The file ${full} that service "${service}" copies to ${target} ${stat ? "is not a regular file" : "does not exist"}: fix \`files["${target}"].path\``, {
        code: "E_CONFIG",
        service,
      });
    }
  }
}

/**
 * Puts the service's files, and its env file (at `HARNESS_ENV_FILE`, 0600) when asked, into the created
 * container, owned by the image's user when that user is numeric. The engine creates missing directories.
 */
export async function putContainerFiles(
  container: Docker.Container,
  service: PlannedService,
  files: Readonly<Record<string, ContainerFile>>,
  imageUser: string | undefined,
  withEnvFile: boolean,
): Promise<void> {
  const [uid, gid] = ownerOf(imageUser);
  const entries: TarFile[] = [];
  if (withEnvFile) entries.push({ name: service.envFile.slice(1), content: Buffer.from(renderEnvFile(service.env)), mode: 0o600, uid, gid });
  for (const [target, file] of Object.entries(files)) {
    if ("content" in file) {
      entries.push({ name: target.slice(1), content: Buffer.from(file.content), mode: file.mode, uid, gid });
    } else {
      const full = path.resolve(file.path);
      entries.push({ name: target.slice(1), content: fs.readFileSync(full), mode: file.mode ?? fs.statSync(full).mode & 0o7777, uid, gid });
    }
  }
  await container.putArchive(await tarFiles(entries), { path: "/" });
}

/** "1000" or "1000:1000" → ids; a user name cannot be resolved outside the container: root. */
function ownerOf(user: string | undefined): [number, number] {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? "");
  if (!match) return [0, 0];
  const uid = Number(match[1]);
  return [uid, match[2] === undefined ? uid : Number(match[2])];
}
