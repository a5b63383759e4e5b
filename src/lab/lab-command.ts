import { execFile } from "node:child_process";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";

const log = debugFor("lab");

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a system command (no shell); resolves its output whatever its exit code. */
export function runCommand(file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  // The command line only: `input` may be a key.
  log(`run ${[file, ...args].join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(new HarnessError(`The lab could not run \`${[file, ...args].join(" ")}\`: ${error.message}`, { code: "E_LAB", cause: error }));
        return;
      }
      resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs a system command that must succeed; the error quotes it and what it printed. */
export async function mustRun(file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await runCommand(file, args, input);
  if (result.code !== 0) {
    throw new HarnessError(`The lab's command \`${[file, ...args].join(" ")}\` failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`, {
      code: "E_LAB",
    });
  }
  return result.stdout;
}
