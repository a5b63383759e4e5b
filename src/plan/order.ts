import { ConfigError } from "../errors.js";
import { closest } from "../topology/did-you-mean.js";
import type { ServiceSpec } from "../topology/types.js";

/**
 * Groups services into levels: every service's dependencies sit in earlier levels, so each level
 * can start in parallel once the one before it is healthy. Reports unknown dependencies and cycles
 * by name.
 */
export function dependencyLevels(services: readonly ServiceSpec[]): string[][] {
  const byName = new Map(services.map((s) => [s.name, s]));
  for (const service of services) {
    for (const dep of service.dependsOn) {
      if (byName.has(dep)) continue;
      const guess = closest(dep, byName.keys());
      throw new ConfigError(`Service "${service.name}" depends on "${dep}", which is not in the topology${guess ? `: did you mean "${guess}"?` : `; add it, or remove it from \`dependsOn\``}`, {
        code: "E_UNKNOWN_DEPENDENCY",
        service: service.name,
      });
    }
    for (const dep of service.restartWith ?? []) {
      if (byName.has(dep)) continue;
      const guess = closest(dep, byName.keys());
      throw new ConfigError(
        `Service "${service.name}" restarts with "${dep}", which is not in the topology${guess ? `: did you mean "${guess}"?` : `; add it, or remove it from \`restartWith\``}`,
        {
          code: "E_UNKNOWN_DEPENDENCY",
          service: service.name,
        },
      );
    }
  }
  const cycle = findCycle(services, byName);
  if (cycle) {
    throw new ConfigError(`Dependency cycle: ${cycle.join(" -> ")}; remove one of these \`dependsOn\` entries`, {
      code: "E_DEPENDENCY_CYCLE",
      service: cycle[0],
    });
  }
  const level = new Map<string, number>();
  const levelOf = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    const deps = byName.get(name)!.dependsOn;
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(levelOf));
    level.set(name, value);
    return value;
  };
  const levels: string[][] = [];
  for (const service of services) (levels[levelOf(service.name)] ??= []).push(service.name);
  return levels;
}

function findCycle(services: readonly ServiceSpec[], byName: Map<string, ServiceSpec>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === "done") return undefined;
    if (state.get(name) === "visiting") return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, "visiting");
    stack.push(name);
    for (const dep of byName.get(name)!.dependsOn) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const service of services) {
    const cycle = visit(service.name);
    if (cycle) return cycle;
  }
  return undefined;
}
