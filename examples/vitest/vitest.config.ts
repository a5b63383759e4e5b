import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Starts the topology once for every test file, and stops it after the last one.
    globalSetup: ["./global-setup.ts"],
  },
});
