import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { HarnessDescriptor } from "../plan/descriptor.js";
import type { Harness } from "../harness/harness.js";
import { type HarnessFactory, type IntegrationOptions, startFrom } from "./start-from.js";
import { HarnessError } from "../errors.js";

export type { HarnessDescriptor, HarnessFactory, IntegrationOptions };

const ENV = "MESHBED_DESCRIPTOR";
const slot = globalThis as { __meshbedHarness?: Harness; __meshbedDescriptorFile?: string };

/**
 * The default export of a jest `globalSetup` file. Jest runs tests in workers: the descriptor
 * reaches them through a temp file (0600) named in the `MESHBED_DESCRIPTOR` env var. With
 * `{ reuse: true }`, the topology outlives the run (`globalTeardown` detaches; `meshbed down` stops it).
 */
export function globalSetup(factory: HarnessFactory, options: IntegrationOptions = {}): () => Promise<void> {
  return async () => {
    const harness = await startFrom(factory, options);
    const file = path.join(os.tmpdir(), `meshbed-jest-${harness.runId}.json`);
    fs.writeFileSync(file, JSON.stringify(harness.toDescriptor()), { mode: 0o600 });
    process.env[ENV] = file;
    slot.__meshbedHarness = harness;
    slot.__meshbedDescriptorFile = file;
  };
}

/** The default export of a jest `globalTeardown` file: stops what `globalSetup` started. */
export function globalTeardown(): () => Promise<void> {
  return async () => {
    try {
      await slot.__meshbedHarness?.stop();
    } finally {
      if (slot.__meshbedDescriptorFile) fs.rmSync(slot.__meshbedDescriptorFile, { force: true });
      slot.__meshbedHarness = undefined;
    }
  };
}

/** In a test file: the started topology's addresses, env and registry. */
export function harnessFromEnv(): HarnessDescriptor {
  const file = process.env[ENV];
  if (!file) throw new HarnessError(`harnessFromEnv(): ${ENV} is not set; add meshbed's globalSetup to jest's config`, { code: "E_CONFIG" });
  return JSON.parse(fs.readFileSync(file, "utf8")) as HarnessDescriptor;
}
