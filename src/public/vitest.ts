import { inject } from "vitest";
import type { HarnessDescriptor } from "../harness/descriptor.js";
import { type HarnessFactory, startFrom } from "./start-from.js";

export type { HarnessDescriptor, HarnessFactory };

declare module "vitest" {
  export interface ProvidedContext {
    meshbed: HarnessDescriptor;
  }
}

interface GlobalSetupContext {
  provide(key: "meshbed", value: HarnessDescriptor): void;
}

/**
 * The default export of a vitest `globalSetup` file: starts the topology once, hands test files
 * its descriptor through `provide`, and stops it in teardown. A SIGINT/SIGTERM that vitest does
 * not await is handled by the harness's own exit hooks.
 *
 * ```ts
 * export default harnessSetup(() => Harness.builder().process("api", { … }));
 * ```
 */
export function harnessSetup(factory: HarnessFactory): (context: GlobalSetupContext) => Promise<() => Promise<void>> {
  return async (context) => {
    const harness = await startFrom(factory);
    context.provide("meshbed", harness.toDescriptor());
    return () => harness.stop();
  };
}

/** In a test file: the started topology's addresses, env and registry. */
export function useHarness(): HarnessDescriptor {
  const descriptor = inject("meshbed");
  if (!descriptor) {
    throw new Error("useHarness(): no harness was provided; add a globalSetup file that exports `harnessSetup(…)` to vitest's config");
  }
  return descriptor;
}
