import fs from "node:fs";
import path from "node:path";
import { StartError } from "../../errors.js";

/** The absolute path of a service's binary, or an error that says how to fix it. */
export function resolveBinary(binary: string, cwd: string, envPath: string | undefined, service: string): string {
  if (!isDirectory(cwd)) {
    throw new StartError(`The working directory of service "${service}" does not exist: ${cwd}; create it or fix \`cwd\``, {
      code: "E_BINARY_NOT_FOUND",
      service,
    });
  }
  if (binary.includes("/")) {
    const full = path.resolve(cwd, binary);
    if (!fs.existsSync(full)) {
      throw new StartError(`The binary of service "${service}" was not found at ${full}: build it, or fix \`binary\``, {
        code: "E_BINARY_NOT_FOUND",
        service,
      });
    }
    checkExecutable(full, service);
    return full;
  }
  const dirs = (envPath ?? "").split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const full = path.join(dir, binary);
    if (fs.existsSync(full) && !isDirectory(full)) {
      checkExecutable(full, service);
      return full;
    }
  }
  throw new StartError(`The binary "${binary}" of service "${service}" is not on PATH (${dirs.join(":") || "PATH is empty"}): install it, or give its full path in \`binary\``, {
    code: "E_BINARY_NOT_FOUND",
    service,
  });
}

function checkExecutable(file: string, service: string): void {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new StartError(`The binary of service "${service}" at ${file} is not executable: \`chmod +x\` it`, {
      code: "E_BINARY_NOT_FOUND",
      service,
    });
  }
  if (isDirectory(file)) {
    throw new StartError(`The binary of service "${service}" at ${file} is a directory: point \`binary\` at the executable`, {
      code: "E_BINARY_NOT_FOUND",
      service,
    });
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
