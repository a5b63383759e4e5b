import { HarnessError } from "../errors.js";
import { Lab, type LabNodeOptions } from "./lab.js";
import { LAB_ROOT } from "./lab-state.js";

/** `meshbed lab up`: a lab that outlives the command, until `meshbed lab down`. */
export function labUp(options: { nodes: readonly LabNodeOptions[]; id?: string; root?: string }): Promise<Lab> {
  return Lab.create({ ...options, keep: true });
}

/** `meshbed lab down [id]`: destroys that lab, or every lab; resolves the ids destroyed. */
export async function labDown(id?: string, root = LAB_ROOT): Promise<string[]> {
  if (id !== undefined) {
    const lab = Lab.open(id, root);
    if (!lab) throw new HarnessError(`There is no lab "${id}"; \`meshbed lab list\` shows the labs there are`, { code: "E_LAB" });
    await lab.destroy();
    return [id];
  }
  const labs = Lab.list(root);
  for (const lab of labs) await lab.destroy();
  return labs.map((l) => l.id);
}

/** Parses `name:lan`, `name:wan`, `name:lan:user`, with `:docker` last for a node with an engine (the CLI's node syntax). */
export function parseNodeSpec(text: string): LabNodeOptions {
  const fields = text.split(":");
  const docker = fields.length > 2 && fields.at(-1) === "docker";
  if (docker) fields.pop();
  const [name, network, user, ...rest] = fields;
  if (!name || (network !== "lan" && network !== "wan") || rest.length > 0 || user === "") {
    throw new HarnessError(`Expected a lab node as name:lan, name:wan or name:lan:user, optionally ending in :docker, got ${JSON.stringify(text)}`, { code: "E_CONFIG" });
  }
  return { name, network, ...(user && { user }), ...(docker && { docker }) };
}

/** How to reach each node, for a person: one block per node. */
export function describeLab(lab: Lab): string {
  const lines = [`lab ${lab.id}: LAN ${lab.subnets.lan}, WAN ${lab.subnets.wan}`];
  for (const node of Object.values(lab.nodes)) {
    lines.push(
      `  ${node.name} (${node.network}) ${node.user}@${node.host}  host is ${node.hostIp} from there`,
      `    ssh -i ${node.identityFile} -o UserKnownHostsFile=${node.knownHostsFile} ${node.user}@${node.host}`,
    );
    if (node.dockerHost) lines.push(`    docker -H ${node.dockerHost} ps   (its own dockerd)`);
  }
  return lines.join("\n");
}
