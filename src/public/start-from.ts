import type { Harness } from "../harness/harness.js";
import { HarnessBuilder, type ServiceMap } from "../harness/builder.js";

/** What a test-runner integration accepts: a builder to start, or a harness already started. */
export type HarnessFactory = () => HarnessBuilder<ServiceMap> | Harness<ServiceMap> | Promise<HarnessBuilder<ServiceMap> | Harness<ServiceMap>>;

export async function startFrom(factory: HarnessFactory): Promise<Harness<ServiceMap>> {
  const made = await factory();
  return made instanceof HarnessBuilder ? made.start() : made;
}
