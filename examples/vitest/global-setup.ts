import { fileURLToPath } from "node:url";
import { Harness } from "meshbed";
import { harnessSetup } from "meshbed/vitest";

const server = fileURLToPath(new URL("../shared/server.mjs", import.meta.url));

export default harnessSetup(() =>
  Harness.builder()
    .process("db", { binary: process.execPath, args: [server], port: 0, health: { http: "/health" } })
    .process("api", { binary: process.execPath, args: [server], port: 0, dependsOn: ["db"], health: { http: "/health" } }),
);
