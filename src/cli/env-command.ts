import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import type { Command } from "./commands.js";
import { selectRun } from "./select-run.js";

export const envCommand: Command = {
  summary: "Print the env a service was given (its env file, which `source` accepts).",
  usage: "meshbed env <service> [--run <id>] [--json]\n\n      --run    the run (default: the only live one)\n      --json   print the env as a JSON object",
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { run: { type: "string" }, json: { type: "boolean" } } });
    const service = positionals[0];
    if (!service) throw new ConfigError("Name the service: meshbed env <service>", { code: "E_CONFIG" });
    const run = selectRun(values.run);
    if (values.json) {
      const env = run.descriptor?.env[service];
      if (!env) throw new ConfigError(`Run ${run.runId} has no started service "${service}"`, { code: "E_CONFIG", service });
      console.log(JSON.stringify(env, null, 2));
      return 0;
    }
    const file = path.join(run.dir, service, "service.env");
    if (!fs.existsSync(file)) throw new ConfigError(`Run ${run.runId} has no service "${service}" (${Object.keys(run.state.services).join(", ")})`, { code: "E_CONFIG", service });
    process.stdout.write(fs.readFileSync(file, "utf8"));
    return 0;
  },
};
