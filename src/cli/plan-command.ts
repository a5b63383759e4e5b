import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import { Harness } from "../harness/harness.js";
import { formatEndpoint } from "../plan/addresses.js";
import { describeNames } from "../plan/dns-names.js";
import { GRAPH_FORMATS, type GraphFormat, renderGraph } from "../plan/graph-formats.js";
import { planGraph } from "../plan/plan-graph.js";
import type { Command } from "./commands.js";

const FORMATS = ["text", "json", ...GRAPH_FORMATS] as const;

export const planCommand: Command = {
  summary:
    "Print what `up` would do — start order, every service's addresses and env — without starting anything.\n" +
    "Ports given as 0 are shown as the free ports found now. `--format svg|mermaid|dot` draws the topology instead:\n" +
    "services grouped by where they run, an arrow for each depends_on, each service's address from each caller.",
  usage:
    "meshbed plan [-f services.yaml] [--json] [--format text|json|svg|mermaid|dot]\n\n" +
    "  -f, --file     the topology file (default: services.yaml)\n" +
    "      --json     print the plan as JSON (the same as --format json)\n" +
    "      --format   text (default), json, or a picture: svg, mermaid (a flowchart), dot (Graphviz)",
  async run(args) {
    const { values } = parseArgs({ args, options: { file: { type: "string", short: "f", default: "services.yaml" }, json: { type: "boolean" }, format: { type: "string" } } });
    const format = values.format ?? (values.json ? "json" : "text");
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new ConfigError(`Expected \`--format\` to be one of ${FORMATS.join(", ")}, got ${JSON.stringify(format)}`, { code: "E_CONFIG" });
    }
    const plan = await Harness.fromFile(values.file!).plan();
    if ((GRAPH_FORMATS as readonly string[]).includes(format)) {
      process.stdout.write(renderGraph(planGraph(plan), format as GraphFormat));
      return 0;
    }
    const services = Object.values(plan.services);
    if (format === "json") {
      const registry = Object.fromEntries(services.map((s) => [s.name, { target: s.target, port: s.port ?? null, addr: s.addr ?? null, addresses: s.addresses, level: s.level }]));
      const env = Object.fromEntries(services.map((s) => [s.name, s.env]));
      const proxies = plan.proxies.map((p) => ({ caller: p.caller, target: p.target, listen: formatEndpoint(p.listen), upstream: formatEndpoint(p.upstream) }));
      const dns = plan.dns && { port: plan.dns.port, domain: plan.dns.domain, servers: plan.dns.serverOf, names: plan.dns.views, hostNames: plan.dns.hostView };
      console.log(JSON.stringify({ runId: plan.runId, levels: plan.levels, meshNeeded: plan.meshNeeded, registry, env, proxies, ...(dns && { dns }) }, null, 2));
      return 0;
    }
    console.log(`Run ${plan.runId}: start order ${plan.levels.map((l) => `[${l.join(", ")}]`).join(" → ")}`);
    console.log(`WireGuard mesh: ${plan.meshNeeded ? "needed" : "not needed (no wireguard service)"}\n`);
    console.log("Registry:");
    for (const s of services) {
      const addrs =
        Object.entries(s.addresses)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "no port";
      console.log(`  ${s.name.padEnd(20)} ${s.target.padEnd(11)} ${addrs}`);
    }
    if (plan.proxies.length > 0) {
      console.log("\nFault edges (the caller is given the proxy; `harness.faults` acts on it):");
      for (const p of plan.proxies) console.log(`  ${`${p.caller} → ${p.target}`.padEnd(30)} ${formatEndpoint(p.listen)} → ${formatEndpoint(p.upstream)}`);
    }
    if (plan.dns) console.log(`\n${describeNames(plan.dns).join("\n")}`);
    for (const s of services) {
      console.log(`\nEnv of ${s.name}:`);
      for (const [k, v] of Object.entries(s.env)) console.log(`  ${k}=${v}`);
    }
    return 0;
  },
};
