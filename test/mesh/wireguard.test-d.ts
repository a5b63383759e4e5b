import { describe, expectTypeOf, test } from "vitest";
import { Harness, type HarnessBuilder, type MeshControl, type ServiceHandle } from "../../src/public/index.js";

describe("the wireguard target's types", () => {
  test(".wireguard grows the builder like the other targets, and a duplicate name does not compile", async () => {
    const builder = Harness.builder()
      .remoteLan("cache", { host: "10.0.0.5", binary: "cache", port: 6379 })
      .wireguard("load", { host: "aws-load-test-1", user: "ubuntu", package: "./load.tar.gz", dependsOn: ["cache"] });
    expectTypeOf(builder).toEqualTypeOf<HarnessBuilder<{} & { cache: "remote_lan" } & { load: "wireguard" }>>();
    // @ts-expect-error: "load" exists already
    builder.wireguard("load", { host: "h", binary: "x" });
    // @ts-expect-error: a binary and a package at once
    builder.wireguard("other", { host: "h", binary: "x", package: "p.tar.gz" });
    const harness = await builder.start();
    expectTypeOf(harness.services.load).toEqualTypeOf<ServiceHandle<"load">>();
    expectTypeOf(harness.mesh).toEqualTypeOf<MeshControl>();
    expectTypeOf(harness.mesh.revoke).parameter(0).toEqualTypeOf<string>();
  });
});
