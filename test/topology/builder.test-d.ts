import { describe, expectTypeOf, test } from "vitest";
import { Harness, type HarnessBuilder, type ServiceHandle } from "../../src/public/index.js";

const node = process.execPath;

describe("builder types", () => {
  test("each call grows the builder's type by that name and target", () => {
    const empty = Harness.builder();
    expectTypeOf(empty).toEqualTypeOf<HarnessBuilder<{}>>();
    const one = empty.process("api", { binary: node });
    expectTypeOf(one).toEqualTypeOf<HarnessBuilder<{} & { api: "process" }>>();
    const two = one.process("db", { binary: node });
    expectTypeOf(two).toEqualTypeOf<HarnessBuilder<{} & { api: "process" } & { db: "process" }>>();
  });

  test("harness.services has a typed handle for each service", async () => {
    const harness = await Harness.builder().process("api", { binary: node, port: 0 }).process("api-server", { binary: node }).start();
    expectTypeOf(harness.services.api).toEqualTypeOf<ServiceHandle<"api">>();
    expectTypeOf(harness.services["api-server"]).toEqualTypeOf<ServiceHandle<"api-server">>();
    expectTypeOf(harness.services.api.name).toEqualTypeOf<"api">();
    expectTypeOf(harness.services.api.addr).toEqualTypeOf<string | undefined>();
    expectTypeOf(harness.services).toHaveProperty("api");
    expectTypeOf(harness.services).not.toHaveProperty("nope");
    expectTypeOf(harness.service("api")).toEqualTypeOf<ServiceHandle<"api">>();
    expectTypeOf(harness.envFor("api")).toEqualTypeOf<Readonly<Record<string, string>>>();
    expectTypeOf(harness.envFor).parameter(0).toEqualTypeOf<"api" | "api-server">();
  });

  test("a name not in the topology does not compile", async () => {
    const harness = await Harness.builder().process("api", { binary: node }).start();
    // @ts-expect-error: "nope" is not a service of this topology
    void harness.services.nope;
    // @ts-expect-error: "nope" is not a service of this topology
    harness.envFor("nope");
    // @ts-expect-error: "nope" is not a service of this topology
    harness.service("nope");
  });

  test("a duplicate name in the builder does not compile", () => {
    const builder = Harness.builder().process("api", { binary: node });
    // @ts-expect-error: "api" exists already
    builder.process("api", { binary: node });
    // A new name still compiles.
    builder.process("db", { binary: node });
  });

  test("options are checked at compile time", () => {
    // @ts-expect-error: `binary` is required for a process
    Harness.builder().process("api", { port: 0 });
    // @ts-expect-error: `port` is a number
    Harness.builder().process("api", { binary: node, port: "80" });
    // @ts-expect-error: unknown option
    Harness.builder().process("api", { binary: node, prot: 80 });
    // @ts-expect-error: health has one of the known shapes
    Harness.builder().process("api", { binary: node, health: { http: 5 } });
    Harness.builder().process("api", { binary: node, health: { logLine: /ready/ } });
  });

  test("a container on a node: `docker` excludes `binary` and `package`, and takes a docker service's image options", () => {
    const at = { host: "192.168.50.10", user: "root" };
    Harness.builder().remoteLan("db", { ...at, docker: { image: "postgres:14", pull: "never" }, port: 5432 });
    Harness.builder().wireguard("gen", { ...at, docker: { build: { context: "./gen" }, command: ["run"] } });
    // @ts-expect-error: `docker` and `binary` are mutually exclusive
    Harness.builder().remoteLan("db", { ...at, binary: "/bin/true", docker: { image: "postgres:14" } });
    // @ts-expect-error: `docker` and `package` are mutually exclusive
    Harness.builder().wireguard("gen", { ...at, package: "./p.tar.gz", docker: { image: "postgres:14" } });
    // @ts-expect-error: an image or a build, not both
    Harness.builder().remoteLan("db", { ...at, docker: { image: "postgres:14", build: { context: "." } } });
    // The container's `env` may be given in `docker` (as `docker run -e`) or beside it.
    Harness.builder().remoteLan("db", { ...at, docker: { image: "postgres:14", env: { POSTGRES_PASSWORD: "test" } }, env: { TZ: "UTC" } });
    // @ts-expect-error: `port` is the service's, beside `docker`
    Harness.builder().remoteLan("db", { ...at, docker: { image: "postgres:14", port: 5432 } });
  });

  test("the spec and the handles are read-only at compile time too", async () => {
    const spec = Harness.builder().process("api", { binary: node }).toSpec();
    // @ts-expect-error: the services of a spec are a readonly array
    spec.services.push(spec.services[0]!);
    // @ts-expect-error: a service spec is readonly
    spec.services[0]!.port = 1;
    const harness = await Harness.builder().process("api", { binary: node }).start();
    // @ts-expect-error: the handles of a harness are readonly
    harness.services.api = harness.services.api;
  });

  test("dependsOn does not change the name: unknown and forward names compile, the plan checks them", () => {
    const forward = Harness.builder().process("api", { binary: node, dependsOn: ["db"] });
    expectTypeOf(forward).toEqualTypeOf<HarnessBuilder<{} & { api: "process" }>>();
    const both = forward.process("db", { binary: node, dependsOn: ["api", "cache"] });
    expectTypeOf(both).toEqualTypeOf<HarnessBuilder<{} & { api: "process" } & { db: "process" }>>();
  });

  test("dependsOn suggests the names known so far", () => {
    type Options = Parameters<HarnessBuilder<{ db: "process" }>["process"]>[1];
    expectTypeOf<"db">().toExtend<NonNullable<Options["dependsOn"]>[number]>();
  });

  test("a topology from a file has names known only at run time", () => {
    const builder = Harness.fromFile("services.yaml");
    expectTypeOf(builder).toEqualTypeOf<HarnessBuilder<Record<string, "process" | "docker" | "remote_lan" | "wireguard">>>();
  });

  test("a name known only at run time is accepted where the map is wide", () => {
    const name: string = "dynamic";
    const builder = Harness.builder().process(name, { binary: node }).process(name, { binary: node });
    expectTypeOf(builder).toEqualTypeOf<HarnessBuilder<{} & { [x: string]: "process" }>>();
  });
});
