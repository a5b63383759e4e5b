import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import { pack } from "../package/pack.js";
import type { Command } from "./commands.js";

export const packCommand: Command = {
  summary: "Build a service package (manifest.yaml, bin/, scripts/start.sh|stop.sh|health.sh, config/) into a .tar.gz for `package:`.",
  usage:
    "meshbed pack <dir> [-o <file.tar.gz>] [--json]\n\n" +
    "  <dir>          the package's folder; its manifest.yaml and scripts are checked first\n" +
    "  -o, --output   the archive to write (default: <name>-<version>.tar.gz in the current directory)\n" +
    "      --json     print {file, bytes, manifest} as JSON",
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { output: { type: "string", short: "o" }, json: { type: "boolean" } } });
    const [dir, ...extra] = positionals;
    if (!dir || extra.length > 0) throw new ConfigError("Name one package folder: meshbed pack <dir> [-o <file.tar.gz>]", { code: "E_CONFIG" });
    const result = await pack(dir, values.output);
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else console.log(`Packed ${result.manifest.name} ${result.manifest.version} into ${result.file} (${result.bytes} bytes)`);
    return 0;
  },
};
