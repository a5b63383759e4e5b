import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import { type CommandResult, hostCommand } from "../host/host-command.js";

export type { CommandResult };

const log = debugFor("lab");

/** Runs a system command (no shell); resolves its output whatever its exit code. */
export async function runCommand(file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  // The command line only: `input` may be a key.
  log(`run ${[file, ...args].join(" ")}`);
  const result = await hostCommand(file, args, { input, maxBuffer: 16 * 1024 * 1024 });
  if (result.error) throw new HarnessError(`The lab could not run \`${[file, ...args].join(" ")}\`: ${result.error.message}`, { code: "E_LAB", cause: result.error });
  return result;
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
