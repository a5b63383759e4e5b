import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/public/index.ts",
    vitest: "src/public/vitest.ts",
    jest: "src/public/jest.ts",
    lab: "src/public/lab.ts",
    cli: "src/cli/main.ts",
  },
  format: ["esm"],
  target: "node20",
  dts: { entry: { index: "src/public/index.ts", vitest: "src/public/vitest.ts", jest: "src/public/jest.ts", lab: "src/public/lab.ts" } },
  clean: true,
  splitting: true,
  sourcemap: true,
  external: ["vitest", "dockerode", "ssh2"],
});
