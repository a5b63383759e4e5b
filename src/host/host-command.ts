import { execFile, execFileSync } from "node:child_process";
import { HarnessError } from "../errors.js";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command of the harness host (no shell); resolves whatever its exit code. */
export function hostCommand(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: "utf8", env: env ? { ...process.env, ...env } : process.env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (error && typeof error.code !== "number" ? error.message : "") });
    });
  });
}

/** Runs a command that must succeed; the error quotes it and what it printed. */
export async function mustHost(file: string, args: readonly string[], service?: string): Promise<string> {
  const result = await hostCommand(file, args);
  if (result.code !== 0) {
    throw new HarnessError(`The mesh's command \`${[file, ...args].join(" ")}\` failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`, {
      code: "E_MESH",
      service,
    });
  }
  return result.stdout;
}

/** The synchronous twin, for the last-resort cleanup on `exit`; never throws. */
export function hostCommandNow(file: string, args: readonly string[]): boolean {
  try {
    execFileSync(file, args, { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}
