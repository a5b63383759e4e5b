import { inject } from "vitest";
import type { HarnessDescriptor } from "../plan/descriptor.js";
import type { Harness } from "../harness/harness.js";
import type { HarnessBuilder, ServiceMap } from "../harness/builder.js";
import { type HarnessFactory, type IntegrationOptions, startFrom } from "./start-from.js";
import { HarnessError } from "../errors.js";

export type { HarnessDescriptor, HarnessFactory, IntegrationOptions };

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
 *
 * With `{ reuse: true }` the topology outlives the run: the first `vitest run` starts it in a
 * detached owner, teardown detaches, and the next run attaches to it in milliseconds (as long as the
 * topology, its binaries and packages have not changed); `meshbed down` stops it.
 */
export function harnessSetup(factory: HarnessFactory, options: IntegrationOptions = {}): (context: GlobalSetupContext) => Promise<() => Promise<void>> {
  return async (context) => {
    const harness = await startFrom(factory, options);
    context.provide("meshbed", harness.toDescriptor());
    return () => harness.stop();
  };
}

/** In a test file: the started topology's addresses, env and registry. */
export function useHarness(): HarnessDescriptor {
  const descriptor = inject("meshbed");
  if (!descriptor) {
    throw new HarnessError("useHarness(): no harness was provided; add a globalSetup file that exports `harnessSetup(…)` to vitest's config", { code: "E_CONFIG" });
  }
  return descriptor;
}

/** What `harnessFixture` accepts: a builder to start, or a harness already started, for one file. */
export type FileHarnessFactory<S extends ServiceMap> = () => HarnessBuilder<S> | Harness<S> | Promise<HarnessBuilder<S> | Harness<S>>;

/**
 * A fixture function of vitest's builder form (`test.extend(name, options, fn)`): resolves the
 * started `Harness` and registers its stop with `onCleanup`.
 */
export type HarnessFixtureFn<S extends ServiceMap> = (context: object, fixture: { onCleanup: (cleanup: () => void | Promise<void>) => void }) => Promise<Harness<S>>;

/**
 * A topology that belongs to one test file, as a fixture for vitest's `test.extend`: started the
 * first time a test of the file asks for it, stopped after the file's last test (with
 * `{ scope: "file" }`), and typed: its value is the `Harness` itself — handles, `logs()`,
 * `restart()` and `stop()` included, which a globalSetup's descriptor cannot carry.
 *
 * ```ts
 * import { Harness } from "meshbed";
 * import { harnessFixture } from "meshbed/vitest";
 * import { test as base, expect } from "vitest";
 *
 * const test = base.extend("topology", { scope: "file" }, harnessFixture(() =>
 *   Harness.builder().process("api", { binary: "node", args: ["api.mjs"], port: 0 }),
 * ));
 *
 * test("answers", async ({ topology }) => {
 *   expect((await fetch(`http://${topology.services.api.addr}/health`)).ok).toBe(true);
 * });
 * ```
 *
 * `{ scope: "worker" }` shares one topology among the files a vitest worker runs; without a scope,
 * each test that uses it gets a fresh one. Without fixtures, the same lifetime is
 * `beforeAll(async () => (harness = await builder.start()))` with `afterAll(() => harness?.stop())`.
 *
 * A run that is killed instead (Ctrl-C, SIGTERM to vitest) does not await fixture teardown: the
 * harness's exit hooks stop the topology when the worker is signalled or loses its parent, and
 * the watchdog kills its processes if the worker dies by SIGKILL.
 */
export function harnessFixture<S extends ServiceMap>(factory: FileHarnessFactory<S>): HarnessFixtureFn<S> {
  // Vitest reads a fixture's first parameter to learn which fixtures it depends on: it must be an
  // object pattern, even an empty one.
  return async ({}: object, { onCleanup }) => {
    const harness = (await startFrom(factory as HarnessFactory)) as Harness<S>;
    onCleanup(() => harness.stop());
    return harness;
  };
}
