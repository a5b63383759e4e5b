import { parseArgs } from "node:util";
import { Harness } from "../harness/harness.js";
import type { Command } from "./commands.js";

export const planCommand: Command = {
  summary: "Print what `up` would do — start order, every service's addresses and env — without starting anything.\n" + "Ports given as 0 are shown as the free ports found now.",
  usage: "meshbed plan [-f services.yaml] [--json]\n\n  -f, --file   the topology file (default: services.yaml)\n      --json   print the plan as JSON",
  async run(args) {
    const { values } = parseArgs({ args, options: { file: { type: "string", short: "f", default: "services.yaml" }, json: { type: "boolean" } } });
    const plan = await Harness.fromFile(values.file!).plan();
    const services = Object.values(plan.services);
    if (values.json) {
      const registry = Object.fromEntries(services.map((s) => [s.name, { target: s.target, port: s.port ?? null, addr: s.addr ?? null, addresses: s.addresses, level: s.level }]));
      const env = Object.fromEntries(services.map((s) => [s.name, s.env]));
      console.log(JSON.stringify({ runId: plan.runId, levels: plan.levels, meshNeeded: plan.meshNeeded, registry, env }, null, 2));
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
    for (const s of services) {
      console.log(`\nEnv of ${s.name}:`);
      for (const [k, v] of Object.entries(s.env)) console.log(`  ${k}=${v}`);
    }
    return 0;
  },
};
