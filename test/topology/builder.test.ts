import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { ConfigError, Harness, type ProcessOptions } from "../../src/public/index.js";
import type { ServiceSpec } from "../../src/topology/types.js";
import { thrown as errorOf } from "../support/errors.js";

const node = process.execPath;

/** The error a builder call throws, for assertions on its fields. */

/** Builds one process service named "api" with options that the types would refuse. */
function api(options: Record<string, unknown>) {
  return Harness.builder().process("api", options as unknown as ProcessOptions);
}

describe("the builder is immutable", () => {
  test("each call returns a new builder and leaves the old one as it was", () => {
    const empty = Harness.builder();
    const one = empty.process("db", { binary: node, port: 5432 });
    const two = one.process("api", { binary: node, port: 0, dependsOn: ["db"] });
    expect(one).not.toBe(empty);
    expect(two).not.toBe(one);
    expect(empty.toSpec().services).toEqual([]);
    expect(one.toSpec().services.map((s) => s.name)).toEqual(["db"]);
    expect(two.toSpec().services.map((s) => s.name)).toEqual(["db", "api"]);
  });

  test("two builders grown from one share nothing", () => {
    const base = Harness.builder().process("db", { binary: node });
    const a = base.process("a", { binary: node });
    const b = base.process("b", { binary: node });
    expect(a.toSpec().services.map((s) => s.name)).toEqual(["db", "a"]);
    expect(b.toSpec().services.map((s) => s.name)).toEqual(["db", "b"]);
    expect(base.toSpec().services.map((s) => s.name)).toEqual(["db"]);
  });

  test("withOptions returns a new builder with the options merged", () => {
    const base = Harness.builder({ runId: "r1", network: { wireguardSubnet: "10.9.0.0/16" } }).process("db", { binary: node });
    const other = base.withOptions({ network: { dnsPort: 5353 } });
    expect(other).not.toBe(base);
    expect(base.toSpec().options).toEqual({ runId: "r1", network: { wireguardSubnet: "10.9.0.0/16" } });
    expect(other.toSpec().options).toEqual({ runId: "r1", network: { wireguardSubnet: "10.9.0.0/16", dnsPort: 5353 } });
    expect(other.toSpec().services).toBe(base.toSpec().services);
  });

  test("the spec is frozen all the way down", () => {
    const spec = Harness.builder({ network: { wireguardSubnet: "10.9.0.0/16" } })
      .process("api", {
        binary: node,
        args: ["--port", "${PORT}"],
        env: { A: "1" },
        dependsOn: ["db"],
        health: { http: "/health", status: [200, 204] },
        port: 0,
      })
      .toSpec();
    const service = spec.services[0]!;
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.options)).toBe(true);
    expect(Object.isFrozen(spec.options.network)).toBe(true);
    expect(Object.isFrozen(spec.services)).toBe(true);
    expect(Object.isFrozen(service)).toBe(true);
    expect(Object.isFrozen(service.env)).toBe(true);
    expect(Object.isFrozen(service.args)).toBe(true);
    expect(Object.isFrozen(service.dependsOn)).toBe(true);
    expect(Object.isFrozen(service.options)).toBe(true);
    expect(Object.isFrozen(service.health)).toBe(true);
    expect(Object.isFrozen((service.health as { http: string; status: readonly number[] }).status)).toBe(true);
    expect(() => (spec.services as unknown as unknown[]).push({})).toThrow(TypeError);
    expect(() => ((service.env as Record<string, string>).B = "2")).toThrow(TypeError);
  });

  test("the spec does not change when the caller later mutates what it passed", () => {
    const env: Record<string, string> = { A: "1" };
    const args = ["--a"];
    const dependsOn = ["db"];
    const health = { http: "/health", status: [200] };
    const options = { binary: node, env, args, dependsOn, health, port: 1234 };
    const service = Harness.builder().process("api", options).toSpec().services[0]!;
    env.A = "changed";
    env.B = "new";
    args.push("--b");
    dependsOn.push("cache");
    health.http = "/other";
    health.status.push(500);
    options.port = 1;
    expect(service.env).toEqual({ A: "1" });
    expect(service.args).toEqual(["--a"]);
    expect(service.dependsOn).toEqual(["db"]);
    expect(service.health).toEqual({ http: "/health", status: [200] });
    expect(service.port).toBe(1234);
  });

  test("a valid service is normalized with its defaults", () => {
    const service = Harness.builder().process("api", { binary: node }).toSpec().services[0]!;
    expect(service).toEqual({
      name: "api",
      target: "process",
      port: undefined,
      env: {},
      dependsOn: [],
      health: undefined,
      startTimeoutMs: 60_000,
      stopTimeoutMs: 10_000,
      args: [],
      options: { binary: node, cwd: undefined, inheritEnv: true, files: {} },
    });
  });

  test("dependsOn keeps one entry per service, in order", () => {
    const service = Harness.builder()
      .process("api", { binary: node, dependsOn: ["db", "cache", "db"] })
      .toSpec().services[0]!;
    expect(service.dependsOn).toEqual(["db", "cache"]);
  });

  test("numbers in args become their text (as YAML writes them)", () => {
    const service = api({ binary: node, args: ["--port", 8080, ""] }).toSpec().services[0]!;
    expect(service.args).toEqual(["--port", "8080", ""]);
  });
});

describe("options are validated at the builder call, before any side effect", () => {
  test("the message names the field, the service, what was expected and what was given", () => {
    const error = errorOf(() => api({ binary: node, port: -1 }));
    expect(error.message).toBe('Expected `port` of service "api" to be an integer from 0 to 65535, got `-1` (number)');
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api");
  });

  test.each([
    [{ binary: node, port: 65536 }, 'Expected `port` of service "api" to be an integer from 0 to 65535, got `65536` (number)'],
    [{ binary: node, port: 80.5 }, 'Expected `port` of service "api" to be an integer from 0 to 65535, got `80.5` (number)'],
    [{ binary: node, port: "80" }, 'Expected `port` of service "api" to be an integer from 0 to 65535, got `"80"` (string)'],
    [{ binary: node, port: Number.NaN }, 'Expected `port` of service "api" to be an integer from 0 to 65535, got `NaN` (number)'],
    [{}, 'Expected `binary` of service "api" to be a non-empty string, got nothing'],
    [{ binary: "" }, 'Expected `binary` of service "api" to be a non-empty string, got `""` (string)'],
    [{ binary: 5 }, 'Expected `binary` of service "api" to be a non-empty string, got `5` (number)'],
    [{ binary: "a\0b" }, 'Expected `binary` of service "api" to be a string without NUL characters, got `"a\\u0000b"` (string)'],
    [{ binary: node, args: "--x" }, 'Expected `args` of service "api" to be an array of strings, got `"--x"` (string)'],
    [{ binary: node, args: ["ok", { a: 1 }] }, 'Expected `args[1]` of service "api" to be a string, got an object'],
    [{ binary: node, args: ["ok", null] }, 'Expected `args[1]` of service "api" to be a string, got `null`'],
    [{ binary: node, env: "A=1" }, 'Expected `env` of service "api" to be an object of string values, got `"A=1"` (string)'],
    [{ binary: node, env: { A: { b: 1 } } }, 'Expected `env.A` of service "api" to be a string, got an object'],
    [{ binary: node, env: { A: undefined } }, 'Expected `env.A` of service "api" to be a string, got nothing'],
    [{ binary: node, env: { "1A": "x" } }, 'Expected the name of `env.1A` of service "api" to be a variable name (letters, digits, _), got `"1A"` (string)'],
    [{ binary: node, env: { "A-B": "x" } }, 'Expected the name of `env.A-B` of service "api" to be a variable name (letters, digits, _), got `"A-B"` (string)'],
    [{ binary: node, dependsOn: "db" }, 'Expected `dependsOn` of service "api" to be an array of strings, got `"db"` (string)'],
    [{ binary: node, dependsOn: [""] }, 'Expected `dependsOn[0]` of service "api" to be a non-empty string, got `""` (string)'],
    [{ binary: node, startTimeoutMs: 0 }, 'Expected `startTimeoutMs` of service "api" to be an integer from 1 to 86400000, got `0` (number)'],
    [{ binary: node, stopTimeoutMs: -5 }, 'Expected `stopTimeoutMs` of service "api" to be an integer from 1 to 86400000, got `-5` (number)'],
    [{ binary: node, inheritEnv: "yes" }, 'Expected `inheritEnv` of service "api" to be true or false, got `"yes"` (string)'],
    [{ binary: node, cwd: "" }, 'Expected `cwd` of service "api" to be a non-empty string, got `""` (string)'],
  ])("%j is refused", (options, message) => {
    const error = errorOf(() => api(options));
    expect(error.message).toBe(message);
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api");
  });

  test("options that are not an object are refused", () => {
    expect(errorOf(() => api(null as unknown as Record<string, unknown>)).message).toBe('Expected the options of service "api" to be an object, got `null`');
    expect(errorOf(() => api([] as unknown as Record<string, unknown>)).message).toBe('Expected the options of service "api" to be an object, got an array');
  });

  test("a long value is shortened in the message", () => {
    const error = errorOf(() => api({ binary: node, port: "x".repeat(100) }));
    expect(error.message).toBe(`Expected \`port\` of service "api" to be an integer from 0 to 65535, got \`"${"x".repeat(56)}...\` (string)`);
  });

  test("a service cannot depend on itself", () => {
    const error = errorOf(() => Harness.builder().process("api", { binary: node, dependsOn: ["db", "api"] }));
    expect(error.message).toBe('Expected `dependsOn[1]` of service "api" to be another service (a service cannot depend on itself), got `"api"` (string)');
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api");
  });

  test("the builder throws at the call, not at start(), and creates nothing", () => {
    const runId = `nofx${process.pid % 100000}`;
    const runDir = path.join(os.tmpdir(), `harness-${runId}`);
    fs.rmSync(runDir, { recursive: true, force: true });
    const builder = Harness.builder({ runId }).process("db", { binary: "/nonexistent/binary/is/not/looked/up" });
    expect(() => builder.process("api", { binary: node, port: -1 })).toThrow(ConfigError);
    expect(fs.existsSync(runDir)).toBe(false);
    // A valid builder does not touch the host either: the binary is looked up when starting.
    expect((builder.toSpec().services[0] as ServiceSpec<"process">).options.binary).toBe("/nonexistent/binary/is/not/looked/up");
    expect(fs.existsSync(runDir)).toBe(false);
  });
});

describe("service names", () => {
  test.each(["api", "api-server", "api_server", "api.v2", "A", "a1", "x".repeat(63)])("%s is a valid name", (name) => {
    expect(Harness.builder().process(name, { binary: node }).toSpec().services[0]!.name).toBe(name);
  });

  test.each(["", "bad name", "-api", "_api", ".api", "1api", "api/x", "x".repeat(64), "ápi"])("%j is refused", (name) => {
    const error = errorOf(() => Harness.builder().process(name, { binary: node }));
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toBe(
      "Expected `name` to be a service name: letters, digits, `-`, `_`, `.`, starting with a letter, at most 63 characters, " +
        `got \`${JSON.stringify(name).length > 60 ? `${JSON.stringify(name).slice(0, 57)}...` : JSON.stringify(name)}\` (string)`,
    );
  });

  test("a name that is not a string is refused", () => {
    const error = errorOf(() => Harness.builder().process(42 as unknown as string, { binary: node }));
    expect(error.message).toMatch(/^Expected `name` to be a service name: .* got `42` \(number\)$/);
  });

  test("a name defined twice is E_DUPLICATE_SERVICE", () => {
    const builder = Harness.builder().process("api", { binary: node });
    const error = errorOf(() => builder.process("api" as string, { binary: node }));
    expect(error.code).toBe("E_DUPLICATE_SERVICE");
    expect(error.service).toBe("api");
    expect(error.message).toBe('Service "api" is defined twice: give each service its own name');
  });

  test.each([
    ["api-server", "api_server", "API_SERVER"],
    ["api.server", "API-SERVER", "API_SERVER"],
    ["db", "DB", "DB"],
  ])("%s and %s would share %s_ADDR: E_DUPLICATE_SERVICE", (first, second, prefix) => {
    const builder = Harness.builder().process(first, { binary: node });
    const error = errorOf(() => builder.process(second, { binary: node }));
    expect(error.code).toBe("E_DUPLICATE_SERVICE");
    expect(error.service).toBe(second);
    expect(error.message).toBe(`Services "${first}" and "${second}" would both be injected as ${prefix}_ADDR: rename one of them`);
  });
});

describe("unknown options", () => {
  test.each([
    ["prot", "port"],
    ["binry", "binary"],
    ["dependOn", "dependsOn"],
    ["depends_on", "dependsOn"],
    ["helth", "health"],
    ["startTimeout", "startTimeoutMs"],
    ["argv", "args"],
  ])("`%s` suggests `%s`", (key, guess) => {
    const error = errorOf(() => api({ binary: node, [key]: 1 }));
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api");
    expect(error.message).toBe(`Unknown option \`${key}\` of service "api": did you mean \`${guess}\`?`);
  });

  test("a key like none of them lists the known ones", () => {
    const error = errorOf(() => api({ binary: node, image: "postgres:14" }));
    expect(error.message).toBe(
      'Unknown option `image` of service "api"; known options: port, env, dependsOn, health, startTimeoutMs, stopTimeoutMs, restart, faultable, watch, restartWith, binary, args, cwd, inheritEnv, files',
    );
  });

  test("unknown harness options are refused with a suggestion", () => {
    expect(errorOf(() => Harness.builder({ runid: "x" } as never)).message).toBe("Unknown option `runid`: did you mean `runId`?");
    expect(errorOf(() => Harness.builder({ netwrok: {} } as never)).message).toBe("Unknown option `netwrok`: did you mean `network`?");
    expect(errorOf(() => Harness.builder({ network: { wireguardSubnt: "10.0.0.0/8" } } as never)).message).toBe("Unknown option `network.wireguardSubnt`: did you mean `wireguardSubnet`?");
  });
});

describe("harness options", () => {
  test("valid options are kept", () => {
    const options = {
      runId: "ci-42",
      stateDir: "/tmp/somewhere",
      network: { wireguardSubnet: "10.42.0.0/16", lanInterface: "eth0", hubEndpoint: "203.0.113.5:51820", dnsPort: 5353 },
    };
    expect(Harness.builder(options).toSpec().options).toEqual(options);
    expect(Harness.builder().toSpec().options).toEqual({});
  });

  test.each([
    [{ runId: "Upper" }, 'Expected `runId` to be 1 to 16 lowercase letters, digits or `-`, got `"Upper"` (string)'],
    [{ runId: "a".repeat(17) }, `Expected \`runId\` to be 1 to 16 lowercase letters, digits or \`-\`, got \`"${"a".repeat(17)}"\` (string)`],
    [{ runId: "-a" }, 'Expected `runId` to be 1 to 16 lowercase letters, digits or `-`, got `"-a"` (string)'],
    [{ runId: "" }, 'Expected `runId` to be a non-empty string, got `""` (string)'],
    [{ stateDir: 5 }, "Expected `stateDir` to be a non-empty string, got `5` (number)"],
    [{ network: { wireguardSubnet: "10.42.0.0/33" } }, 'Expected `network.wireguardSubnet` to be an IPv4 subnet such as "10.42.0.0/16", got `"10.42.0.0/33"` (string)'],
    [{ network: { wireguardSubnet: "300.42.0.0/16" } }, 'Expected `network.wireguardSubnet` to be an IPv4 subnet such as "10.42.0.0/16", got `"300.42.0.0/16"` (string)'],
    [{ network: { hubEndpoint: "1.2.3.4" } }, 'Expected `network.hubEndpoint` to be a "host:port" endpoint, got `"1.2.3.4"` (string)'],
    [{ network: { dnsPort: 0 } }, "Expected `network.dnsPort` to be an integer from 1 to 65535, got `0` (number)"],
    [{ network: "wg" }, 'Expected `network` to be an object, got `"wg"` (string)'],
  ])("%j is refused", (options, message) => {
    const error = errorOf(() => Harness.builder(options as never));
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBeUndefined();
    expect(error.message).toBe(message);
  });

  test("withOptions validates too", () => {
    const builder = Harness.builder().process("api", { binary: node });
    expect(errorOf(() => builder.withOptions({ runId: "NO" })).message).toBe('Expected `runId` to be 1 to 16 lowercase letters, digits or `-`, got `"NO"` (string)');
  });
});

describe("health checks", () => {
  const health = (check: unknown) => api({ binary: node, port: 0, health: check }).toSpec().services[0]!.health;

  test("each variant is accepted and normalized", () => {
    expect(health({ tcp: true })).toEqual({ tcp: true });
    expect(health({ http: "/health" })).toEqual({ http: "/health" });
    expect(health({ http: "/health", status: 204 })).toEqual({ http: "/health", status: 204 });
    expect(health({ http: "/", status: [200, 301] })).toEqual({ http: "/", status: [200, 301] });
    expect(health({ command: ["pg_isready", "-p", 5432] })).toEqual({ command: ["pg_isready", "-p", "5432"] });
    expect(health({ logLine: "ready" })).toEqual({ logLine: "ready" });
    expect(health(undefined)).toBeUndefined();
  });

  test("a RegExp logLine stays a RegExp", () => {
    const regex = /listening on (\d+)/i;
    const check = health({ logLine: regex }) as { logLine: RegExp };
    expect(check.logLine).toBe(regex);
    expect(check.logLine.test("Listening on 80")).toBe(true);
  });

  test.each([
    [{}, 'Expected `health` of service "api" to have exactly one of tcp, http, command, logLine, got none'],
    [{ tcp: true, http: "/h" }, 'Expected `health` of service "api" to have exactly one of tcp, http, command, logLine, got tcp and http'],
    ["tcp", 'Expected `health` of service "api" to be an object with one of `tcp`, `http`, `command`, `logLine`, got `"tcp"` (string)'],
    [{ tcp: false }, 'Expected `health.tcp` of service "api" to be true, got `false` (boolean)'],
    [{ http: "health" }, 'Expected `health.http` of service "api" to be a path starting with "/", got `"health"` (string)'],
    [{ http: 8080 }, 'Expected `health.http` of service "api" to be a non-empty string, got `8080` (number)'],
    [{ http: "/h", status: 700 }, 'Expected `health.status` of service "api" to be an integer from 100 to 599, got `700` (number)'],
    [{ http: "/h", status: [200, 99] }, 'Expected `health.status[1]` of service "api" to be an integer from 100 to 599, got `99` (number)'],
    [{ tcp: true, status: 200 }, 'Unknown option `health.status` of service "api" for a tcp check'],
    [{ http: "/h", timeout: 5 }, 'Unknown option `health.timeout` of service "api" for a http check'],
    [{ command: [] }, 'Expected `health.command` of service "api" to be a non-empty argv array, got an array'],
    [{ command: "pg_isready -p 5432" }, 'Expected `health.command` of service "api" to be an array of strings, got `"pg_isready -p 5432"` (string)'],
    [{ logLine: "" }, 'Expected `health.logLine` of service "api" to be a non-empty string, got `""` (string)'],
  ])("%j is refused", (check, message) => {
    const error = errorOf(() => health(check));
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api");
    expect(error.message).toBe(message);
  });
});
