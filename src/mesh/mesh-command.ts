import { HarnessError } from "../errors.js";
import { hostCommand } from "../host/host-command.js";

/** Runs a command of the harness host that the mesh needs to succeed; the error quotes it and what it printed. */
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
