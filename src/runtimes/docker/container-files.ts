import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { StartError } from "../../errors.js";
import { renderEnvFile } from "../../plan/env-file.js";
import type { PlannedService } from "../../plan/plan.js";
import { type ReadHostFile, serviceFileContent } from "../../plan/render-template.js";
import type { ContainerFile } from "./docker-options.js";
import { type TarFile, tarFiles } from "./tar.js";

/**
 * Reads each host file (or template) a service copies into its container, and renders each template with
 * the container's env: a missing file or an unknown variable is reported in preflight, before anything
 * is created.
 */
export function checkHostFiles(service: PlannedService, files: Readonly<Record<string, ContainerFile>>): void {
  for (const [target, file] of Object.entries(files)) {
    if ("content" in file) continue;
    const field = "path" in file ? "path" : "template";
    const full = path.resolve("path" in file ? file.path : file.template);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (!stat?.isFile()) {
      throw new StartError(`The file ${full} that service "${service.name}" copies to ${target} ${stat ? "is not a regular file" : "does not exist"}: fix \`files["${target}"].${field}\``, {
        code: "E_CONFIG",
        service: service.name,
      });
    }
    if ("template" in file) serviceFileContent(target, file, service, readHostFile);
  }
}

/**
 * Puts the service's files (templates rendered with its env), and its env file (at `HARNESS_ENV_FILE`,
 * 0600) when asked, into the created container, owned by the image's user when that user is numeric.
 * The engine creates missing directories.
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
    const { content, mode } = serviceFileContent(target, file, service, readHostFile);
    entries.push({ name: target.slice(1), content, mode, uid, gid });
  }
  await container.putArchive(await tarFiles(entries), { path: "/" });
}

/** A host file's bytes and permission bits, relative to the harness process's cwd. */
const readHostFile: ReadHostFile = (file) => {
  const full = path.resolve(file);
  return { content: fs.readFileSync(full), mode: fs.statSync(full).mode & 0o7777 };
};

/** "1000" or "1000:1000" → ids; a user name cannot be resolved outside the container: root. */
function ownerOf(user: string | undefined): [number, number] {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? "");
  if (!match) return [0, 0];
  const uid = Number(match[1]);
  return [uid, match[2] === undefined ? uid : Number(match[2])];
}
