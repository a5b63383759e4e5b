import { describe, expectTypeOf, test } from "vitest";
import { Harness, type HarnessBuilder, type ServiceHandle } from "../../../src/public/index.js";

describe("docker builder types", () => {
  test(".docker grows the builder's type like .process", () => {
    const builder = Harness.builder()
      .docker("db", { image: "postgres:14", port: 5432 })
      .process("api", { binary: "node", dependsOn: ["db"] });
    expectTypeOf(builder).toEqualTypeOf<HarnessBuilder<{} & { db: "docker" } & { api: "process" }>>();
  });

  test("a started container has a typed handle", async () => {
    const harness = await Harness.builder()
      .docker("db", { build: { context: "./db" } })
      .start();
    expectTypeOf(harness.services.db).toEqualTypeOf<ServiceHandle<"db">>();
  });

  test("exactly one of image and build; a duplicate name does not compile", () => {
    // @ts-expect-error: neither image nor build
    Harness.builder().docker("db", { port: 5432 });
    // @ts-expect-error: both image and build
    Harness.builder().docker("db", { image: "x", build: { context: "." } });
    // @ts-expect-error: "db" exists already
    Harness.builder().docker("db", { image: "x" }).docker("db", { image: "y" });
    // @ts-expect-error: pull takes "missing" | "never" | "always"
    Harness.builder().docker("db", { image: "x", pull: "sometimes" });
  });
});
