import { cleanupCommand } from "./cleanup-command.js";
import { digCommand } from "./dig-command.js";
import { downCommand } from "./down-command.js";
import { envCommand } from "./env-command.js";
import { labCommand } from "./lab-command.js";
import { logsCommand } from "./logs-command.js";
import { packCommand } from "./pack-command.js";
import { planCommand } from "./plan-command.js";
import { statusCommand } from "./status-command.js";
import { upCommand } from "./up-command.js";

export interface Command {
  summary: string;
  usage: string;
  /** Resolves the exit code. */
  run(args: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  up: upCommand,
  down: downCommand,
  status: statusCommand,
  logs: logsCommand,
  env: envCommand,
  plan: planCommand,
  dig: digCommand,
  cleanup: cleanupCommand,
  pack: packCommand,
  lab: labCommand,
};

export function printHelp(command?: string): void {
  const one = command === undefined ? undefined : COMMANDS[command];
  if (one) {
    console.log(`${one.usage}\n\n${one.summary}`);
    return;
  }
  console.log("Usage: meshbed <command> [options]\n\nCommands:");
  for (const [name, c] of Object.entries(COMMANDS)) console.log(`  ${name.padEnd(8)} ${c.summary.split("\n")[0]}`);
  console.log("\nRun `meshbed <command> --help` for a command's options. Exit codes: 0 ok, 1 a service failed, 2 bad input.");
}
