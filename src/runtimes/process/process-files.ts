import fs from "node:fs";
import path from "node:path";
import { StartError } from "../../errors.js";
import { PROCESS_FILES_DIR, type PlannedService } from "../../plan/plan.js";
import { type ReadHostFile, serviceFileContent } from "../../plan/render-template.js";
import { targetOptions } from "../../topology/target-options.js";

/** One of a process's `files`, ready to write: where (absolute), its bytes and mode. */
interface ProcessFile {
  readonly file: string;
  readonly content: Buffer;
  readonly mode: number;
}

/**
 * The process's `files` as they will be written under its `HARNESS_FILES_DIR`: host files read,
 * templates rendered with its env. A missing host file, or an unknown variable in a template, fails
 * here (preflight calls it before anything starts).
 */
export function processFiles(service: PlannedService): ProcessFile[] {
  const { files } = targetOptions(service.spec, "process");
  const dir = path.join(service.dir, PROCESS_FILES_DIR);
  return Object.entries(files).map(([name, file]) => {
    const read: ReadHostFile = (source) => {
      const full = path.resolve(source);
      const stat = fs.statSync(full, { throwIfNoEntry: false });
      if (!stat?.isFile()) {
        const field = "path" in file ? "path" : "template";
        throw new StartError(`The file ${full} that service "${service.name}" writes to ${name} ${stat ? "is not a regular file" : "does not exist"}: fix \`files["${name}"].${field}\``, {
          code: "E_CONFIG",
          service: service.name,
        });
      }
      return { content: fs.readFileSync(full), mode: stat.mode & 0o7777 };
    };
    return { file: path.join(dir, name), ...serviceFileContent(name, file, service, read) };
  });
}

/** Writes the process's files (made by `processFiles`), in directories only its user may enter. */
export function writeProcessFiles(files: readonly ProcessFile[]): void {
  for (const { file, content, mode } of files) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Removed first: a restart writes the same file again, and a mode is set only on creation.
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, content, { mode });
    fs.chmodSync(file, mode);
  }
}
