import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import type { Lab } from "../lab/lab.js";
import type { Command } from "./commands.js";

const USAGE =
  "meshbed lab up <name:lan|name:wan[:user][:docker]>… [--id <id>] [--json]\n" +
  "meshbed lab down [id] [--json]\n" +
  "meshbed lab list [--json]\n\n" +
  "  up     create nodes, each a network namespace with a real sshd: `lan` nodes share a bridge with\n" +
  "         this host, `wan` nodes sit on another network reached only by routing; `:user` is the\n" +
  "         account sshd lets in (default root); `:docker` starts a dockerd of the node's own. Prints\n" +
  "         how to reach each node. Needs root and Linux.\n" +
  "  down   destroy that lab, or every lab (its namespaces, links, users it made, keys and state)\n" +
  "  list   the labs there are\n\n" +
  "      --id     the lab's id: 1 to 6 lowercase letters and digits (default: random)\n" +
  "      --json   print the nodes (host, port, user, identityFile, knownHostsFile, hostIp) as JSON";

export const labCommand: Command = {
  summary: "Create, list or destroy a lab: LAN and remote nodes on this machine (network namespaces with real sshd).",
  usage: USAGE,
  async run(args) {
    const [action, ...rest] = args;
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { id: { type: "string" }, json: { type: "boolean" } } });
    // The lab's code (and what it checks about the host) loads only for a lab command.
    const { describeLab, labDown, labUp, parseNodeSpec } = await import("../lab/lab-commands.js");
    switch (action) {
      case "up": {
        if (positionals.length === 0) throw new ConfigError("Name at least one node: meshbed lab up name:lan [name:wan…]", { code: "E_CONFIG" });
        const nodes = positionals.map((text) => {
          try {
            return parseNodeSpec(text);
          } catch (error) {
            throw new ConfigError((error as Error).message, { code: "E_CONFIG", cause: error });
          }
        });
        const lab = await labUp({ nodes, ...(values.id === undefined ? {} : { id: values.id }) });
        console.log(values.json ? JSON.stringify(labJson(lab), null, 2) : `${describeLab(lab)}\n\n\`meshbed lab down ${lab.id}\` destroys it.`);
        return 0;
      }
      case "down": {
        if (positionals.length > 1) throw new ConfigError("Name at most one lab: meshbed lab down [id]", { code: "E_CONFIG" });
        const ids = await labDown(positionals[0]);
        if (values.json) console.log(JSON.stringify({ destroyed: ids }));
        else console.log(ids.length === 0 ? "There was no lab to destroy." : `Destroyed lab ${ids.join(", ")}.`);
        return 0;
      }
      case "list": {
        const { Lab } = await import("../lab/lab.js");
        const labs = Lab.list();
        if (values.json) console.log(JSON.stringify(labs.map(labJson), null, 2));
        else console.log(labs.length === 0 ? "No labs. Create one with `meshbed lab up name:lan`." : labs.map(describeLab).join("\n\n"));
        return 0;
      }
      default:
        throw new ConfigError(`Expected \`meshbed lab up|down|list\`, got ${action === undefined ? "nothing" : JSON.stringify(action)}. See meshbed lab --help`, {
          code: "E_CONFIG",
        });
    }
  },
};

/** The nodes as data: what a test or script needs to reach each one (no private key). */
function labJson(lab: Lab) {
  const nodes = Object.values(lab.nodes).map((n) => ({
    name: n.name,
    network: n.network,
    namespace: n.namespace,
    host: n.host,
    port: n.port,
    user: n.user,
    hostIp: n.hostIp,
    identityFile: n.identityFile,
    knownHostsFile: n.knownHostsFile,
    ...(n.dockerHost && { dockerHost: n.dockerHost }),
  }));
  return { id: lab.id, subnets: lab.subnets, nodes };
}
