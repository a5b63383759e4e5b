import { ConfigError } from "../errors.js";
import { closest } from "../topology/did-you-mean.js";
import type { TopologySpec } from "../topology/types.js";

/** One edge that can take faults: the caller is given a proxy's address instead of the target's. */
export interface FaultEdge {
  readonly caller: string;
  readonly target: string;
}

/** The key of an edge in the host facts' proxy ports: `api>db`. */
export function edgeKey(caller: string, target: string): string {
  return `${caller}>${target}`;
}

/**
 * Every edge the topology routes through a fault proxy: the pairs of `faults.edges`, and every
 * other service's edge to a `faultable` one, each once, in the order they were declared. Pure.
 */
export function faultEdges(spec: TopologySpec): FaultEdge[] {
  const names = spec.services.map((s) => s.name);
  const edges = new Map<string, FaultEdge>();
  for (const [i, pair] of (spec.options.faults?.edges ?? []).entries()) {
    pair.forEach((name, j) => {
      if (names.includes(name)) return;
      const guess = closest(name, names);
      throw new ConfigError(`\`faults.edges[${i}][${j}]\` names "${name}", which is not in the topology${guess ? `: did you mean "${guess}"?` : `; the services are ${names.join(", ")}`}`, {
        code: "E_CONFIG",
      });
    });
    edges.set(edgeKey(pair[0], pair[1]), { caller: pair[0], target: pair[1] });
  }
  for (const target of spec.services) {
    if (!target.faultable) continue;
    for (const caller of spec.services) {
      if (caller.name !== target.name) edges.set(edgeKey(caller.name, target.name), { caller: caller.name, target: target.name });
    }
  }
  return [...edges.values()];
}
