// The import boundaries between meshbed's layers (`npm run boundaries`, run by scripts/test.sh).
// Data flows one way: topology -> plan (pure) -> runtimes (side effects) -> harness -> entry points.
// A module may import its own layer and lower ones only; type-only imports follow the same rules,
// except where a rule says otherwise. Only src/ is checked: tests and the bench may import anything.
//
// | layer                     | files                                                            | may also import                    |
// |---------------------------|------------------------------------------------------------------|------------------------------------|
// | base                      | src/errors.ts, src/debug.ts                                      | node built-ins                     |
// | topology                  | src/topology/**, src/runtimes/*/*-options.ts, src/mesh/wireguard-options.ts | base, src/host/cidr.ts, shell-quote.ts |
// | plan (pure)               | src/plan/**                                                      | base, topology, src/host/cidr.ts, shell-quote.ts |
// | host & infrastructure     | src/{host,state,logs,package,ssh}/**                             | base, topology, plan (types only)  |
// | runtimes & network set-up | src/{runtimes,mesh,faults,health,dns}/** (but the option schemas) | every lower layer                  |
// | harness                   | src/harness/**                                                   | every lower layer                  |
// | entry points              | src/public/**, src/cli/**                                        | everything                         |
// | the lab (test infra)      | src/lab/**                                                       | base, host, state, ssh             |
//
// Each target's option schema (*-options.ts) is part of the topology layer, wherever its file sits:
// importing one is importing the topology, so the rules between runtimes and the mesh leave them out.
// An import of src/lab from product code is reported by product-imports-no-lab alone (the layer rules
// leave the lab out), so that each wrong import is reported once.

/** Regular expressions over paths from the repository root, one per layer. */
const BASE = "^src/(errors|debug)\\.ts$";
const OPTION_SCHEMAS = ["^src/runtimes/[^/]+/[^/]+-options\\.ts$", "^src/mesh/wireguard-options\\.ts$"];
const TOPOLOGY = ["^src/topology/", ...OPTION_SCHEMAS];
const CIDR = "^src/host/(cidr|shell-quote)\\.ts$";
const PLAN = "^src/plan/";
const HOST_INFRA = "^src/(host|state|logs|package|ssh)/";
const RUNTIMES_NETWORK = "^src/(runtimes|mesh|faults|health|dns)/";
const HARNESS = "^src/harness/";
const LAB = "^src/lab/";
/** Outside src/lab, only these two may import the lab: they are how a user reaches it. */
const LAB_ENTRY_POINTS = ["^src/public/lab\\.ts$", "^src/cli/lab-command\\.ts$"];
/** What a pure module may not touch: the file system, processes, the network, the host, randomness. */
const SIDE_EFFECT_BUILTINS = "^(node:)?(fs|child_process|net|dns|os|crypto)(/|$)";
const NPM = ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-bundled", "npm-no-pkg", "npm-unknown"];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "base-imports-no-other-module",
      comment: "src/errors.ts and src/debug.ts are the bottom layer: everything imports them, so they import nothing of meshbed's.",
      severity: "error",
      from: { path: BASE },
      to: { path: "^src/", pathNot: BASE },
    },
    {
      name: "base-imports-only-node-builtins",
      comment: "The base layer uses node built-ins only, so that every layer can load it without a dependency.",
      severity: "error",
      from: { path: BASE },
      to: { dependencyTypes: NPM },
    },
    {
      name: "topology-imports-base-and-cidr-only",
      comment: "The topology (builder, YAML, validation, each target's option schema) is the user's input: it may import the base layer and the pure src/host/cidr.ts, nothing that plans or runs.",
      severity: "error",
      from: { path: TOPOLOGY },
      to: { path: "^src/", pathNot: [...TOPOLOGY, BASE, CIDR, LAB] },
    },
    {
      name: "plan-imports-base-topology-cidr-only",
      comment:
        "The plan decides everything that can be decided before a side effect: it may import the base layer, the topology and src/host/cidr.ts. Not src/host/ports.ts (it binds sockets), the state, runtimes or the harness.",
      severity: "error",
      from: { path: PLAN },
      to: { path: "^src/", pathNot: [PLAN, ...TOPOLOGY, BASE, CIDR, LAB] },
    },
    {
      name: "plan-imports-no-side-effect-builtins",
      comment:
        "The plan is pure and unit-tested without root, docker or ssh: no node:fs, node:child_process, node:net, node:dns, node:os or node:crypto (node:path is fine). Find ports, read files and make keys in a runtime or the harness, and hand the results to the plan.",
      severity: "error",
      from: { path: PLAN },
      to: { dependencyTypes: ["core"], path: SIDE_EFFECT_BUILTINS },
    },
    {
      name: "host-infra-imports-lower-layers-only",
      comment:
        "The host, state, logs, package and SSH-transport modules may import the base layer, the topology and the plan's types: not the runtimes, the mesh, the harness, the entry points or the lab.",
      severity: "error",
      from: { path: HOST_INFRA },
      to: { path: "^src/", pathNot: [HOST_INFRA, ...TOPOLOGY, BASE, PLAN, LAB] },
    },
    {
      name: "host-infra-imports-plan-types-only",
      comment: "The host and infrastructure layer may know the shape of a plan (import type), not call into it: planning happens before, above it.",
      severity: "error",
      from: { path: HOST_INFRA },
      to: { path: PLAN, dependencyTypesNot: ["type-only"] },
    },
    {
      name: "runtimes-network-imports-lower-layers-only",
      comment: "Runtimes, the mesh, faults and health checks may import every lower layer: not the harness, the entry points or the lab.",
      severity: "error",
      from: { path: RUNTIMES_NETWORK, pathNot: OPTION_SCHEMAS },
      to: { path: "^src/", pathNot: [RUNTIMES_NETWORK, ...TOPOLOGY, BASE, PLAN, HOST_INFRA, LAB] },
    },
    {
      name: "runtime-imports-no-other-runtime",
      comment:
        "src/runtimes/<a>/ never imports src/runtimes/<b>/ (nor load-runtime.ts): only its own folder and the interface, src/runtimes/runtime.ts. What two runtimes share belongs to a lower layer (src/ssh/ for the SSH transport). Adding a runtime touches its folder and one registration line.",
      severity: "error",
      from: { path: "^src/runtimes/([^/]+)/", pathNot: OPTION_SCHEMAS },
      to: { path: "^src/runtimes/", pathNot: ["^src/runtimes/$1/", "^src/runtimes/runtime\\.ts$", ...OPTION_SCHEMAS] },
    },
    {
      name: "runtime-imports-no-mesh",
      comment:
        "A runtime (src/runtimes/<x>/) never imports src/mesh/: the mesh is handed to it through RuntimeContext (src/runtimes/runtime.ts). The registration point, src/runtimes/load-runtime.ts, may.",
      severity: "error",
      from: { path: "^src/runtimes/[^/]+/", pathNot: OPTION_SCHEMAS },
      to: { path: "^src/mesh/", pathNot: OPTION_SCHEMAS },
    },
    {
      name: "mesh-imports-no-runtime",
      comment: "src/mesh/ never imports a runtime's folder (src/runtimes/<x>/): it may use src/runtimes/runtime.ts and the SSH transport in src/ssh/.",
      severity: "error",
      from: { path: "^src/mesh/", pathNot: OPTION_SCHEMAS },
      to: { path: "^src/runtimes/[^/]+/", pathNot: OPTION_SCHEMAS },
    },
    {
      name: "harness-imports-lower-layers-only",
      comment: "The harness may import every lower layer: not the entry points (src/public, src/cli).",
      severity: "error",
      from: { path: HARNESS },
      to: { path: "^src/(public|cli)/" },
    },
    {
      name: "lab-imports-base-host-state-ssh-only",
      comment:
        "The lab is test infrastructure beside the product: it may import the base layer, src/host, src/state and src/ssh, so that it does not change when the topology, the plan or a runtime does.",
      severity: "error",
      from: { path: LAB },
      to: { path: "^src/", pathNot: [LAB, BASE, "^src/(host|state|ssh)/"] },
    },
    {
      name: "product-imports-no-lab",
      comment: "Product code never imports src/lab: only src/public/lab.ts (the meshbed/lab export) and src/cli/lab-command.ts (`meshbed lab`) do.",
      severity: "error",
      from: { path: "^src/", pathNot: [LAB, ...LAB_ENTRY_POINTS] },
      to: { path: LAB },
    },
    {
      name: "no-circular",
      comment: "No import cycles at run time. A cycle with a type-only import in it is tolerated (it is gone after compilation), where it cannot be avoided.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "no-unresolvable",
      comment: "An import that dependency-cruiser cannot resolve would pass every rule above unseen: fix the import, or the resolution options below.",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports are seen (and marked type-only) only from the TypeScript source.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
};
