#!/usr/bin/env node
import { HarnessError } from "../errors.js";
import { exitCodeOf, isUsageError } from "./exit-codes.js";
import { COMMANDS, printHelp } from "./commands.js";

const [name, ...rest] = process.argv.slice(2);

async function main(): Promise<number> {
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    printHelp(rest[0]);
    return 0;
  }
  if (name === "--version" || name === "-v") {
    const { createRequire } = await import("node:module");
    console.log(createRequire(import.meta.url)("../package.json").version);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`meshbed: unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(", ")}. See meshbed --help`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    printHelp(name);
    return 0;
  }
  return command.run(rest);
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof HarnessError) console.error(`meshbed: ${error.message}`);
    else if (isUsageError(error)) console.error(`meshbed ${name}: ${error.message}. See meshbed ${name} --help`);
    else console.error(error);
    process.exitCode = exitCodeOf(error);
  },
);
