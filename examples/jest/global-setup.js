import { fileURLToPath } from "node:url";
import { Harness } from "meshbed";
import { globalSetup } from "meshbed/jest";
import { cacheImageContext } from "../shared/cache-image.mjs";

const server = fileURLToPath(new URL("../shared/server.mjs", import.meta.url));

// One topology for the whole run: two local processes and a container. Test files read it with
// `harnessFromEnv()`; global-teardown.js stops it.
export default globalSetup(async () => {
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
