import { fileURLToPath } from "node:url";
import { Harness } from "meshbed";
import { harnessSetup } from "meshbed/vitest";
import { cacheImageContext } from "../shared/cache-image.mjs";

const server = fileURLToPath(new URL("../shared/server.mjs", import.meta.url));

// One topology for every test file: two local processes and a container, started once before the
// first file and stopped after the last. Tests read it with `useHarness()`.
export default harnessSetup(async () => {
  // The container's image is built FROM scratch in this run (no registry needed) and removed with it.
  const image = cacheImageContext();
  try {
    return await Harness.builder()
      .process("db", { binary: process.execPath, args: [server], port: 0, health: { http: "/health" } })
      .process("api", { binary: process.execPath, args: [server], port: 0, dependsOn: ["db"], health: { http: "/health" } })
      .docker("cache", { build: { context: image.context }, port: 8080, health: { http: "/health" } })
      .start();
  } finally {
    image.remove();
  }
});
