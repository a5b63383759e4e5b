import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { loadTopologyFile, parseTopology } from "../../src/topology/yaml.js";
import { thrown } from "../support/errors.js";

/** The error parsing `text` throws. */

/** A topology of one process service "api" with `extra` lines (indented as service keys) after its target. */
function api(extra = "", target = "        binary: /usr/bin/api\n"): string {
  return `services:\n  api:\n    target:\n      process:\n${target}${extra}`;
}

const errorOf = (text: string) => thrown(() => parseTopology(text));

describe("the ADR's format", () => {
  test("process targets with binary, args, env, depends_on, health, config and network", () => {
    const spec = parseTopology(`
network:
  wireguard_subnet: 10.42.0.0/16   # Used only if remote nodes exist
  lan_interface: eth0
  hub_endpoint: 203.0.113.7:51820
  dns_port: 5353
services:
  postgres:
    target:
      process:
        binary: /usr/lib/postgresql/bin/postgres
        args: ["-p", "\${PORT}", 5432]
        env:
          PGDATA: /tmp/pg
    port: 0
  api-server:
    target:
      process:
        binary: /srv/api-server
        cwd: /srv
        inherit_env: false
        env:
          RUST_LOG: debug
    port: 8080
    depends_on: [postgres]
    health: { http: /health }
    env:
      DATABASE_URL: postgres://\${POSTGRES_ADDR}/app
    config:
      TARGET_URL: http://\${POSTGRES_ADDR}
      WORKERS: 4
      VERBOSE: true
    start_timeout_ms: 5000
    stop_timeout_ms: 2000
  worker:
    target: { process: { binary: /srv/worker } }
    health: { log_line: /ready on \\d+/i }
`);
    expect(spec.options).toEqual({
      network: { wireguardSubnet: "10.42.0.0/16", lanInterface: "eth0", hubEndpoint: "203.0.113.7:51820", dnsPort: 5353 },
    });
    expect(spec.services.map((s) => [s.name, s.target])).toEqual([
      ["postgres", "process"],
      ["api-server", "process"],
      ["worker", "process"],
    ]);
    const [postgres, apiServer, worker] = spec.services;
    expect(postgres).toMatchObject({
      port: 0,
      args: ["-p", "${PORT}", "5432"],
      env: { PGDATA: "/tmp/pg" },
      dependsOn: [],
      options: { binary: "/usr/lib/postgresql/bin/postgres", inheritEnv: true },
    });
    expect(apiServer).toMatchObject({
      port: 8080,
      dependsOn: ["postgres"],
      health: { http: "/health" },
      startTimeoutMs: 5000,
      stopTimeoutMs: 2000,
      env: {
        RUST_LOG: "debug",
        DATABASE_URL: "postgres://${POSTGRES_ADDR}/app",
        TARGET_URL: "http://${POSTGRES_ADDR}",
        WORKERS: "4",
        VERBOSE: "true",
      },
      options: { binary: "/srv/api-server", cwd: "/srv", inheritEnv: false },
    });
    const logLine = (worker!.health as { logLine: RegExp }).logLine;
    expect(logLine).toBeInstanceOf(RegExp);
    expect(logLine.source).toBe("ready on \\d+");
    expect(logLine.flags).toBe("i");
    expect(logLine.test("READY ON 8080")).toBe(true);
  });

  test("a log_line without slashes is a plain string", () => {
    const spec = parseTopology(api("    health: { log_line: 'server started' }\n"));
    expect(spec.services[0]!.health).toEqual({ logLine: "server started" });
  });

  test("the other health checks, with snake_case keys", () => {
    expect(parseTopology(api("    health: { tcp: true }\n")).services[0]!.health).toEqual({ tcp: true });
    expect(parseTopology(api("    health: { http: /ready, status: [200, 204] }\n")).services[0]!.health).toEqual({
      http: "/ready",
      status: [200, 204],
    });
    expect(parseTopology(api("    health: { command: [pg_isready, -p, 5432] }\n")).services[0]!.health).toEqual({
      command: ["pg_isready", "-p", "5432"],
    });
  });

  test("port, env and health may sit inside the target block, as the ADR writes env", () => {
    const spec = parseTopology(api("", "        binary: /usr/bin/api\n        port: 9000\n        env: { A: '1' }\n        health: { tcp: true }\n"));
    expect(spec.services[0]).toMatchObject({ port: 9000, env: { A: "1" }, health: { tcp: true } });
  });

  test("env and config with only comments under them (as in the ADR) are empty", () => {
    const spec = parseTopology(`
services:
  api-server:
    target:
      process:
        binary: ./target/debug/api-server
        env:
          # DATABASE_URL will be injected by harness with correct IP
    config:
      # target_url will be injected by harness with correct IP
`);
    expect(spec.services[0]!.env).toEqual({});
  });

  test("`files` paths and templates of processes and containers are taken from the file's folder", () => {
    const spec = parseTopology(
      `
services:
  api:
    target:
      process:
        binary: ./api
        files:
          app.conf: { template: ./conf/app.conf.template }
          raw.txt: { path: /abs/raw.txt, mode: 0o600 }
          inline.ini: "a = 1"
  web:
    target:
      docker:
        image: busybox
        files:
          /etc/web.conf: { template: web.conf.template }
`,
      "services.yaml",
      "/project",
    );
    const [api, web] = spec.services;
    expect(api!.target === "process" && api!.options.files).toEqual({
      "app.conf": { template: "/project/conf/app.conf.template", mode: undefined },
      "raw.txt": { path: "/abs/raw.txt", mode: 0o600 },
      "inline.ini": { content: "a = 1", mode: 0o644 },
    });
    expect(web!.target === "docker" && web!.options.files).toEqual({ "/etc/web.conf": { template: "/project/web.conf.template", mode: undefined } });
  });

  test("the result is the builder's frozen spec, checked as the builder checks it", () => {
    const spec = parseTopology(api());
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.services[0])).toBe(true);
  });
});

describe("errors report the path of the bad field", () => {
  test.each([
    [api("", "        binary: 5\n"), 'Expected `binary` of service "api" to be a non-empty string, got `5` (number) (at services.api.target.process.binary)'],
    [api("", "        args: [--x]\n"), 'Expected `binary` of service "api" to be a non-empty string, got nothing (at services.api.target.process.binary)'],
    [api("    port: -1\n"), 'Expected `port` of service "api" to be an integer from 0 to 65535, got `-1` (number) (at services.api.port)'],
    [api("", "        binary: x\n        port: 70000\n"), 'Expected `port` of service "api" to be an integer from 0 to 65535, got `70000` (number) (at services.api.target.process.port)'],
    [api("", "        binary: x\n        args: [a, { b: 1 }]\n"), 'Expected `args[1]` of service "api" to be a string, got an object (at services.api.target.process.args[1])'],
    [api("", "        binary: x\n        inherit_env: maybe\n"), 'Expected `inheritEnv` of service "api" to be true or false, got `"maybe"` (string) (at services.api.target.process.inherit_env)'],
    [api("    health: { http: health }\n"), 'Expected `health.http` of service "api" to be a path starting with "/", got `"health"` (string) (at services.api.health.http)'],
    [api("    health: { log_line: '' }\n"), 'Expected `health.logLine` of service "api" to be a non-empty string, got `""` (string) (at services.api.health.log_line)'],
    [api("    health: { http: /h, status: [200, 99] }\n"), 'Expected `health.status[1]` of service "api" to be an integer from 100 to 599, got `99` (number) (at services.api.health.status[1])'],
    [
      api("    depends_on: [db, api]\n"),
      'Expected `dependsOn[1]` of service "api" to be another service (a service cannot depend on itself), got `"api"` (string) (at services.api.depends_on[1])',
    ],
    [api("    start_timeout_ms: 0\n"), 'Expected `startTimeoutMs` of service "api" to be an integer from 1 to 86400000, got `0` (number) (at services.api.start_timeout_ms)'],
    [api("    env: { A: [1] }\n"), 'Expected `env.A` of service "api" to be a string, got an array (at services.api.env.A)'],
    [api("    config: { Weird_Name: { a: 1 } }\n"), 'Expected `env.Weird_Name` of service "api" to be a string, got an object (at services.api.config.Weird_Name)'],
    [api("", "        binary: x\n        env: { B: [1] }\n"), 'Expected `env.B` of service "api" to be a string, got an array (at services.api.target.process.env.B)'],
    [api("    env: { 1A: x }\n"), 'Expected the name of `env.1A` of service "api" to be a variable name (letters, digits, _), got `"1A"` (string) (at services.api.env.1A)'],
    [api("    env: just-a-string\n"), 'Expected `env` of service "api" to be an object of string values, got `"just-a-string"` (string) (at services.api.env)'],
    [api("    config: [1, 2]\n"), 'Expected `env` of service "api" to be an object of string values, got an array (at services.api.config)'],
  ])("%#: %s", (text, message) => {
    const error = errorOf(text);
    expect(error.message).toBe(message);
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api");
  });

  test("network options, in the file's snake_case", () => {
    const error = errorOf(`network:\n  wireguard_subnet: 10.42.0.0/40\n${api()}`);
    expect(error.message).toBe('Expected `network.wireguardSubnet` to be an IPv4 subnet such as "10.42.0.0/16", got `"10.42.0.0/40"` (string) (at network.wireguard_subnet)');
    expect(errorOf(`network:\n  dns_port: 0\n${api()}`).message).toBe("Expected `network.dnsPort` to be an integer from 1 to 65535, got `0` (number) (at network.dns_port)");
  });

  test("a bad service name", () => {
    const error = errorOf(`services:\n  "bad name":\n    target: { process: { binary: x } }\n`);
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toMatch(/^Expected `name` to be a service name: .*got `"bad name"` \(string\) \(at services\.bad name\)$/);
  });

  test("two names whose variables collide", () => {
    const error = errorOf(`services:\n  api-x:\n    target: { process: { binary: x } }\n  api_x:\n    target: { process: { binary: y } }\n`);
    expect(error.code).toBe("E_DUPLICATE_SERVICE");
    expect(error.service).toBe("api_x");
    expect(error.message).toBe('Services "api-x" and "api_x" would both be injected as API_X_ADDR: rename one of them');
  });

  test("an option given both beside the target and inside it", () => {
    const error = errorOf(api("    port: 2\n", "        binary: x\n        port: 1\n"));
    expect(error.code).toBe("E_YAML");
    expect(error.message).toBe('`port` of service "api" is given twice (beside `target` and inside it): keep one (at services.api.port)');
  });
});

describe("unknown keys, with did-you-mean", () => {
  test.each([
    [api("", "        binray: x\n"), 'Unknown key `binray` in service "api": did you mean `binary`? (at services.api.target.process.binray)'],
    [api("", "        binary: x\n        inheritEnv: true\n"), 'Unknown key `inheritEnv` in service "api": did you mean `inherit_env`? (at services.api.target.process.inheritEnv)'],
    [api("    depends_no: [db]\n"), 'Unknown key `depends_no` in service "api": did you mean `depends_on`? (at services.api.depends_no)'],
    [api("    dependsOn: [db]\n"), 'Unknown key `dependsOn` in service "api": did you mean `depends_on`? (at services.api.dependsOn)'],
    [api("    helth: { tcp: true }\n"), 'Unknown key `helth` in service "api": did you mean `health`? (at services.api.helth)'],
    [`services:\n  api:\n    traget: { process: { binary: x } }\n`, 'Unknown key `traget` in service "api": did you mean `target`? (at services.api.traget)'],
    [`servics:\n  api: {}\n`, "Unknown key `servics`: did you mean `services`? (at servics)"],
    [`netwrok: {}\n${api()}`, "Unknown key `netwrok`: did you mean `network`? (at netwrok)"],
    [`network:\n  wireguard_subnt: 10.0.0.0/8\n${api()}`, "Unknown key `wireguard_subnt`: did you mean `wireguard_subnet`? (at network.wireguard_subnt)"],
    [`network:\n  wireguardSubnet: 10.0.0.0/8\n${api()}`, "Unknown key `wireguardSubnet`: did you mean `wireguard_subnet`? (at network.wireguardSubnet)"],
    [
      `services:\n  api:\n    target: { procss: { binary: x } }\n`,
      'Expected `target` of service "api" to have exactly one of process, docker, remote_lan, wireguard, got `procss`: did you mean `process`? (at services.api.target.procss)',
    ],
    [
      api("    image: postgres\n"),
      'Unknown key `image` in service "api"; known keys: target, port, env, config, depends_on, health, start_timeout_ms, stop_timeout_ms, restart, faultable, watch, restart_with (at services.api.image)',
    ],
  ])("%#: %s", (text, message) => {
    const error = errorOf(text);
    expect(error.code).toBe("E_YAML");
    expect(error.message).toBe(message);
  });

  test("unknown keys of a health check are named with their path", () => {
    const error = errorOf(api("    health: { http: /h, stauts: 200 }\n"));
    expect(error.message).toBe('Unknown option `health.stauts` of service "api" for a http check (at services.api.health.stauts)');
  });
});

describe("the shape of the file", () => {
  test.each([
    ["", "services.yaml has no services: add a `services:` map with at least one service (at services)"],
    ["services: {}\n", "services.yaml has no services: add a `services:` map with at least one service (at services)"],
    ["services: [api]\n", "services.yaml has no services: add a `services:` map with at least one service (at services)"],
    ["- a\n- b\n", "Expected the top level to be a map in services.yaml"],
    [`services:\n  api: 5\n`, 'Expected the options of service "api" to be a map in services.yaml (at services.api)'],
    [`services:\n  api:\n    target: process\n`, 'Expected `target` of service "api" to have exactly one of process, docker, remote_lan, wireguard (at services.api.target)'],
    [
      `services:\n  api:\n    target: { process: { binary: x }, docker: { image: y } }\n`,
      'Expected `target` of service "api" to have exactly one of process, docker, remote_lan, wireguard (at services.api.target)',
    ],
    [`services:\n  api:\n    port: 1\n`, 'Expected `target` of service "api" to have exactly one of process, docker, remote_lan, wireguard (at services.api.target)'],
  ])("%j", (text, message) => {
    const error = errorOf(text);
    expect(error.code).toBe("E_YAML");
    expect(error.message).toBe(message);
  });
});

describe("invalid YAML", () => {
  test("is E_YAML with the file, line and column", () => {
    const error = errorOf("services:\n  api:\n    target: { process: { binary: x }\n    port: 1\n");
    expect(error.code).toBe("E_YAML");
    expect(error.message).toMatch(/^services\.yaml:\d+:\d+ is not valid YAML: \S/);
    expect(error.cause).toBeDefined();
  });

  test.each([
    ["services:\n  api:\n    target: { process: { binary: x }\n    port: 1\n", "4:5", "Flow map in block collection must be sufficiently indented and end with a }"],
    ["services:\n  api:\n    target:\n      process:\n        binary: x\n   bad: [\n", "6:1", "All mapping items must start at the same column"],
    ["services:\n  api:\n\tport: 1\n", "3:1", "Tabs are not allowed as indentation"],
    ['services:\n  api:\n    target: "unterminated\n', "4:1", 'Missing closing "quote'],
    // A service defined twice is a key defined twice: YAML itself refuses it, at the second one.
    ["services:\n  api:\n    target: { process: { binary: x } }\n  api:\n    target: { process: { binary: y } }\n", "4:3", "Map keys must be unique"],
  ])("%j is reported at %s", (text, position, reason) => {
    const error = errorOf(text);
    expect(error.code).toBe("E_YAML");
    expect(error.message).toBe(`services.yaml:${position} is not valid YAML: ${reason}`);
  });

  test("names the source it was given", () => {
    expect(() => parseTopology("a: [\n", "topo/services.yaml")).toThrow(/^topo\/services\.yaml:\d+:\d+ is not valid YAML/);
  });
});

describe("loadTopologyFile", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-yaml-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("reads the file into the same spec", () => {
    const file = path.join(dir, "services.yaml");
    fs.writeFileSync(file, api("    port: 0\n"));
    expect(loadTopologyFile(file).services[0]).toMatchObject({ name: "api", target: "process", port: 0, options: { binary: "/usr/bin/api" } });
  });

  test("names the file in a YAML error", () => {
    const file = path.join(dir, "broken.yaml");
    fs.writeFileSync(file, "services:\n  api: {\n");
    expect(() => loadTopologyFile(file)).toThrow(new RegExp(`^${file.replace(/[.]/g, "\\.")}:\\d+:\\d+ is not valid YAML`));
  });

  test("a file that cannot be read is E_CONFIG", () => {
    const file = path.join(dir, "missing.yaml");
    let error: unknown;
    try {
      loadTopologyFile(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("E_CONFIG");
    expect((error as ConfigError).message).toMatch(new RegExp(`^Cannot read the topology file ${file}: ENOENT`));
  });
});
