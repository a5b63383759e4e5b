import { parseArgs } from "node:util";
import dnsPacket, { type Answer } from "dns-packet";
import { decide } from "../dns/dns-answer.js";
import { ConfigError } from "../errors.js";
import { Harness } from "../harness/harness.js";
import { askerOf } from "../plan/dns-names.js";
import type { Command } from "./commands.js";

const TYPES = ["A", "SRV"] as const;

export const digCommand: Command = {
  summary: "Answer a name as the run's DNS server (`network.dns`) would answer it for a service (`--as`), without starting anything.",
  usage:
    "meshbed dig <name> [--as <service>] [--type A|SRV] [-f services.yaml]\n\n" +
    "  -f, --file     the topology file (default: services.yaml)\n" +
    "      --as       the service that asks (default: this host itself)\n" +
    "      --type     A (default) or SRV (`_<name>._tcp.<service>`)",
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { file: { type: "string", short: "f", default: "services.yaml" }, as: { type: "string" }, type: { type: "string", default: "A" } },
    });
    const name = positionals[0];
    if (name === undefined || positionals.length > 1) throw new ConfigError("Give one name to look up: `meshbed dig postgres --as api`", { code: "E_CONFIG" });
    const type = values.type!.toUpperCase();
    if (!(TYPES as readonly string[]).includes(type)) throw new ConfigError(`Expected \`--type\` to be A or SRV, got ${JSON.stringify(values.type)}`, { code: "E_CONFIG" });
    const plan = await Harness.fromFile(values.file!).plan();
    if (!plan.dns) throw new ConfigError(`${values.file} runs no DNS server: add \`network: { dns: true }\` to find services by name`, { code: "E_CONFIG" });
    const service = values.as;
    if (service !== undefined && !(service in plan.services)) {
      throw new ConfigError(`There is no service "${service}" in ${values.file} (${Object.keys(plan.services).join(", ")})`, { code: "E_CONFIG", service });
    }
    const asker = service === undefined ? { source: "127.0.0.1", local: plan.dns.hostAddress } : askerOf(plan.dns, service);
    if (!asker) throw new ConfigError(`Service "${service}" has no address the run's DNS server knows it by`, { code: "E_CONFIG", service });
    const query = dnsPacket.decode(dnsPacket.encode({ id: 1, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as "A" | "SRV", class: "IN" }] }));
    const decision = decide(plan.dns, asker.source, query, asker.local);
    const who = service === undefined ? "this host" : `"${service}"`;
    if (decision.kind === "forward") {
      console.log(`${name}: not a name of the run; the server forwards it to the host's resolvers (as ${who} would resolve it without meshbed)`);
      return 0;
    }
    if (decision.kind === "refused") {
      console.log(`${name}: REFUSED (${decision.why})`);
      return 1;
    }
    const answers = (decision.response.answers ?? []) as Answer[];
    const rcode = (decision.response.flags ?? 0) & 0xf;
    if (rcode === 3) {
      console.log(`${name}: NXDOMAIN (no service of that name in run ${plan.runId})`);
      return 1;
    }
    if (answers.length === 0) {
      console.log(`${name}: no ${type} record for ${who}`);
      return 1;
    }
    for (const a of answers) {
      const data = a.type === "SRV" ? `0 0 ${a.data.port} ${a.data.target}.` : String((a as { data: unknown }).data);
      console.log(`${a.name}.\t${(a as { ttl?: number }).ttl ?? 0}\tIN\t${a.type}\t${data}\t; for ${who}`);
    }
    return 0;
  },
};
