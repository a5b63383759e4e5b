import { inject } from "vitest";
import type { HarnessDescriptor } from "../harness/descriptor.js";
import type { Harness } from "../harness/harness.js";
import type { HarnessBuilder, ServiceMap } from "../spec/builder.js";
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

/** What `harnessFixture` accepts: a builder to start, or a harness already started, for one file. */
export type FileHarnessFactory<S extends ServiceMap> = () => HarnessBuilder<S> | Harness<S> | Promise<HarnessBuilder<S> | Harness<S>>;

/** A vitest fixture (function and options) for `test.extend`, whose value is the started `Harness`. */
export type HarnessFixture<S extends ServiceMap> = [
  (context: object, use: (harness: Harness<S>) => Promise<void>) => Promise<void>,
  { scope: "file" | "worker" | "test" },
];

/**
 * A topology that belongs to one test file, as a fixture for vitest's `test.extend`: started the
 * first time a test of the file asks for it, stopped when the file's last test is done (scope
 * `"file"`, the default), with the typed `Harness` itself as its value — handles, `logs()`,
 * `restart()` and `stop()` included, which a globalSetup's descriptor cannot carry.
 *
 * A run that is killed instead (Ctrl-C, SIGTERM to vitest) is stopped by the harness's own exit
 * hooks and, for processes, by its watchdog: vitest does not await fixture teardown then.
 *
 * ```ts
 * import { Harness } from "meshbed";
 * import { harnessFixture } from "meshbed/vitest";
 * import { test as base, expect } from "vitest";
 *
 * const test = base.extend({
 *   topology: harnessFixture(() => Harness.builder().process("api", { binary: "node", args: ["api.mjs"], port: 0 })),
 * });
 *
 * test("answers", async ({ topology }) => {
 *   expect((await fetch(`http://${topology.services.api.addr}/health`)).ok).toBe(true);
 * });
 * ```
 *
 * Without fixtures, the same lifetime is `beforeAll(async () => (harness = await builder.start()))`
 * with `afterAll(() => harness?.stop())`.
 *
 * @param options.scope `"file"` (default): one topology per test file; `"worker"`: one per vitest
 *   worker, shared by the files it runs; `"test"`: a fresh one for every test that uses it.
 */
export function harnessFixture<S extends ServiceMap>(factory: FileHarnessFactory<S>, options: { scope?: "file" | "worker" | "test" } = {}): HarnessFixture<S> {
  // Vitest reads a fixture's first parameter to learn which fixtures it depends on: it must be an
  // object pattern, even an empty one.
  const fixture = async ({}: object, use: (harness: Harness<S>) => Promise<void>): Promise<void> => {
    const harness = (await startFrom(factory as HarnessFactory)) as Harness<S>;
    try {
      await use(harness);
    } finally {
      await harness.stop();
    }
  };
  return [fixture, { scope: options.scope ?? "file" }];
}
