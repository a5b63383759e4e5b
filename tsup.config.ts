import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/public/index.ts",
    vitest: "src/public/vitest.ts",
    jest: "src/public/jest.ts",
    lab: "src/public/lab.ts",
    cli: "src/cli/main.ts",
    // The detached owner of a reusable run (`reuse: true`): spawned by src/harness/reuse.ts from beside it.
    "reuse-owner": "src/harness/reuse-owner.ts",
  },
  format: ["esm"],
  target: "node20",
  dts: { entry: { index: "src/public/index.ts", vitest: "src/public/vitest.ts", jest: "src/public/jest.ts", lab: "src/public/lab.ts" } },
  clean: true,
  splitting: true,
  sourcemap: true,
  external: ["vitest", "dockerode", "ssh2"],
});
