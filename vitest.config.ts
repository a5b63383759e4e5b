import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // The pure parts: spec, plan, env, logs, the rules of faults, what image shipping leaves out. No processes, no network.
        test: {
          name: "unit",
          include: ["test/{topology,plan,logs,faults}/**/*.test.ts", "test/runtimes/docker/{tar-filter,shared-layers}.test.ts"],
          typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./tsconfig.typecheck.json" },
        },
      },
      {
        // Real processes, containers, namespaces and sshd.
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
          exclude: ["test/{topology,plan,logs,faults}/**", "test/runtimes/docker/{tar-filter,shared-layers}.test.ts", "**/node_modules/**"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
