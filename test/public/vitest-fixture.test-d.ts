import { test as base, describe, expectTypeOf } from "vitest";
import { Harness } from "../../src/public/index.js";
import { harnessFixture } from "../../src/public/vitest.js";

describe("harnessFixture", () => {
  const test = base.extend(
    "topology",
    { scope: "file" },
    harnessFixture(() => Harness.builder().process("api", { binary: "node", port: 0 }).process("db", { binary: "node", port: 0 })),
  );

  test("gives test.extend the typed Harness of the topology", ({ topology }) => {
    expectTypeOf(topology.runId).toEqualTypeOf<string>();
    expectTypeOf(topology.services.api.name).toEqualTypeOf<"api">();
    // @ts-expect-error: no service "nope" in this topology
    void topology.services.nope;
  });

  test("takes a harness the factory started, and any scope", () => {
    const worker = base.extend("started", { scope: "worker" }, harnessFixture(async () => Harness.builder().process("api", { binary: "node" }).start()));
    worker("typed", ({ started }) => {
      expectTypeOf(started.services.api.name).toEqualTypeOf<"api">();
    });
    base.extend("perTest", harnessFixture(() => Harness.builder().process("api", { binary: "node" })));
  });
});
