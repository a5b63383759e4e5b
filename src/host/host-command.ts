import { execFile, execFileSync } from "node:child_process";

export interface CommandResult {
  /** Its exit code; 127 when it did not exit by itself (see `error`). */
  code: number;
  stdout: string;
  stderr: string;
  /**
   * Why it did not run or did not end by itself (not found, ended by the timeout or a signal, too
   * much output); absent when it exited, whatever its code.
   */
  error?: Error;
}

export interface CommandOptions {
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to its stdin (which is then closed). */
  input?: string;
  /** Ends it (SIGTERM) after this many milliseconds. Default: it may take however long it takes. */
  timeoutMs?: number;
  /** The most output kept of each stream, in bytes. Default: 1 MiB. */
  maxBuffer?: number;
}

/**
 * Runs a command of the harness host (no shell); resolves whatever its exit code, and never
 * rejects: a command that could not run resolves code 127, with why in `stderr` and `error`.
 */
export function hostCommand(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        encoding: "utf8",
        env: options.env ? { ...process.env, ...options.env } : process.env,
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
        maxBuffer: options.maxBuffer ?? 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const exited = !error || typeof error.code === "number";
        const code = error ? (typeof error.code === "number" ? error.code : 127) : 0;
        resolve({ code, stdout, stderr: stderr || (exited ? "" : error!.message), ...(exited ? {} : { error: error! }) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/**
 * The synchronous twin, for the last-resort cleanup on `exit`: whether the command exited 0; never
 * throws. `timeoutMs` defaults to 5 000 (0: no limit).
 */
export function hostCommandNow(file: string, args: readonly string[], options: { timeoutMs?: number } = {}): boolean {
  const timeoutMs = options.timeoutMs ?? 5_000;
  try {
    execFileSync(file, args, { stdio: "ignore", ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}) });
    return true;
  } catch {
    return false;
  }
}
