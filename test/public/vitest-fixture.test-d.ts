import { test as base, describe, expectTypeOf } from "vitest";
import { Harness } from "../../src/public/index.js";
import { harnessFixture } from "../../src/public/vitest.js";

// Called through a name of its own: vitest's type-test collector counts a call of `base.extend(…)`
// as a test of its own that never runs (a "skipped" test in the report).
const extend = base.extend.bind(base) as typeof base.extend;

describe("harnessFixture", () => {
  const test = extend(
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
    const worker = extend(
      "started",
      { scope: "worker" },
      harnessFixture(async () => Harness.builder().process("api", { binary: "node" }).start()),
    );
    worker("typed", ({ started }) => {
      expectTypeOf(started.services.api.name).toEqualTypeOf<"api">();
    });
    extend(
      "perTest",
      harnessFixture(() => Harness.builder().process("api", { binary: "node" })),
    );
  });
});
