import type { Harness } from "../harness/harness.js";
import { HarnessBuilder, type ServiceMap } from "../harness/builder.js";

/** What a test-runner integration accepts: a builder to start, or a harness already started. */
export type HarnessFactory = () => HarnessBuilder<ServiceMap> | Harness<ServiceMap> | Promise<HarnessBuilder<ServiceMap> | Harness<ServiceMap>>;

/** What a test-runner integration takes beside its factory. */
export interface IntegrationOptions {
  /**
   * Attach to a live run of the same topology (`reuse: true` on the builder): the first suite run
   * starts it in a detached owner, teardown detaches, later runs attach in milliseconds;
   * `meshbed down` ends it. Default: the builder's own `reuse` (false).
   */
  reuse?: boolean;
}

export async function startFrom(factory: HarnessFactory, options: IntegrationOptions = {}): Promise<Harness<ServiceMap>> {
  const made = await factory();
  if (!(made instanceof HarnessBuilder)) return made;
  return (options.reuse === undefined ? made : made.withOptions({ reuse: options.reuse })).start();
}
