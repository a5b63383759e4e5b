import type { ServiceSpec, TargetKind } from "./types.js";
import { HarnessError } from "../errors.js";

/**
 * The options of a service of one of `targets`, typed by its target. A runtime is handed only the
 * services of its own targets: another one here is a bug, which fails here rather than being read
 * as options of the wrong shape.
 */
export function targetOptions<T extends TargetKind>(service: ServiceSpec, ...targets: readonly T[]): ServiceSpec<T>["options"] {
  if (!isOneOf(service, targets))
    throw new HarnessError(`meshbed: service "${service.name}" is a ${service.target} service, not ${targets.join(" or ")} (a bug in meshbed: please report it)`, {
      code: "E_INTERNAL",
      service: service.name,
    });
  return service.options;
}

function isOneOf<T extends TargetKind>(service: ServiceSpec, targets: readonly T[]): service is ServiceSpec<T> {
  return (targets as readonly TargetKind[]).includes(service.target);
}
