import { describe, expect, test } from "vitest";
import { addrFor, makePlan } from "../../src/plan/plan.js";
import { Harness } from "../../src/public/index.js";
import { hostFacts, serviceSpec, topology } from "./fixtures.js";
import { thrown as errorOf } from "../support/errors.js";

const node = process.execPath;

/** What every service is given about itself and the run. */
const own = (name: string, port?: number) => ({
  ...(port !== undefined && { PORT: String(port) }),
  HARNESS_RUN_ID: "t1",
  HARNESS_SERVICE: name,
  HARNESS_ENV_FILE: `/tmp/harness-t1/${name}/service.env`,
});

describe("a topology of local processes", () => {
  const spec = Harness.builder()
    .process("postgres", { binary: node, port: 5432 })
    .process("api-server", { binary: node, port: 0, dependsOn: ["postgres"] })
    .process("web.ui", { binary: node, port: 0, dependsOn: ["api-server"] })
    .process("worker", { binary: node })
    .toSpec();
  const facts = hostFacts({ ports: { "api-server": 41001, "web.ui": 41002 } });
  const plan = makePlan(spec, facts);

  test("start order: dependency levels", () => {
    expect(plan.levels).toEqual([["postgres", "worker"], ["api-server"], ["web.ui"]]);
    expect(Object.values(plan.services).map((s) => [s.name, s.level])).toEqual([
      ["postgres", 0],
      ["api-server", 1],
      ["web.ui", 2],
      ["worker", 0],
    ]);
  });

  test("ports: a fixed port is kept, port 0 takes the one the facts chose", () => {
    expect(plan.services.postgres!.port).toBe(5432);
    expect(plan.services["api-server"]!.port).toBe(41001);
    expect(plan.services["web.ui"]!.port).toBe(41002);
    expect(plan.services.worker!.port).toBeUndefined();
  });

  test("every service gets X_ADDR, X_HOST, X_PORT of every other one, and its own PORT and HARNESS_*", () => {
    expect(plan.services.postgres!.env).toEqual({
      API_SERVER_ADDR: "127.0.0.1:41001",
      API_SERVER_HOST: "127.0.0.1",
      API_SERVER_PORT: "41001",
      WEB_UI_ADDR: "127.0.0.1:41002",
      WEB_UI_HOST: "127.0.0.1",
      WEB_UI_PORT: "41002",
      WORKER_HOST: "127.0.0.1",
      ...own("postgres", 5432),
    });
    expect(plan.services["api-server"]!.env).toEqual({
      POSTGRES_ADDR: "127.0.0.1:5432",
      POSTGRES_HOST: "127.0.0.1",
      POSTGRES_PORT: "5432",
      WEB_UI_ADDR: "127.0.0.1:41002",
      WEB_UI_HOST: "127.0.0.1",
      WEB_UI_PORT: "41002",
      WORKER_HOST: "127.0.0.1",
      ...own("api-server", 41001),
    });
    // Addresses do not need dependsOn: worker depends on nothing and knows everyone.
    expect(plan.services.worker!.env).toEqual({
      POSTGRES_ADDR: "127.0.0.1:5432",
      POSTGRES_HOST: "127.0.0.1",
      POSTGRES_PORT: "5432",
      API_SERVER_ADDR: "127.0.0.1:41001",
      API_SERVER_HOST: "127.0.0.1",
      API_SERVER_PORT: "41001",
      WEB_UI_ADDR: "127.0.0.1:41002",
      WEB_UI_HOST: "127.0.0.1",
      WEB_UI_PORT: "41002",
      ...own("worker"),
    });
  });

  test("no service is given its own address as a peer", () => {
    for (const service of Object.values(plan.services)) {
      const prefix = service.name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
      expect(Object.keys(service.env).filter((k) => k.startsWith(`${prefix}_`))).toEqual([]);
    }
  });

  test("addresses from the host, and where the env file is", () => {
    const api = plan.services["api-server"]!;
    expect(api.addr).toBe("127.0.0.1:41001");
    expect(api.addresses).toEqual({ host: "127.0.0.1:41001" });
    expect(api.dir).toBe("/tmp/harness-t1/api-server");
    expect(api.envFile).toBe("/tmp/harness-t1/api-server/service.env");
    expect(plan.services.worker!.addr).toBeUndefined();
    expect(plan.services.worker!.addresses).toEqual({ host: "127.0.0.1" });
    expect(addrFor(plan, "postgres", "api-server")).toBe("127.0.0.1:5432");
  });

  test("the plan carries the run and needs no mesh", () => {
    expect(plan.runId).toBe("t1");
    expect(plan.runDir).toBe("/tmp/harness-t1");
    expect(plan.meshNeeded).toBe(false);
  });

  test("is pure: the same spec and facts give the same plan, and neither is changed", () => {
    const before = JSON.stringify(facts);
    expect(makePlan(spec, facts)).toEqual(plan);
    expect(JSON.stringify(facts)).toBe(before);
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.services)).toBe(true);
    expect(Object.isFrozen(plan.services.postgres)).toBe(true);
    expect(Object.isFrozen(plan.services.postgres!.env)).toBe(true);
    expect(Object.isFrozen(plan.services.postgres!.args)).toBe(true);
  });
});

describe("plan errors", () => {
  test("an unknown dependency, with did-you-mean", () => {
    const spec = Harness.builder()
      .process("postgres", { binary: node, port: 5432 })
      .process("api", { binary: node, dependsOn: ["postgre"] })
      .toSpec();
    const error = errorOf(() => makePlan(spec, hostFacts()));
    expect(error.code).toBe("E_UNKNOWN_DEPENDENCY");
    expect(error.service).toBe("api");
    expect(error.message).toBe('Service "api" depends on "postgre", which is not in the topology: did you mean "postgres"?');
  });

  test("a dependency cycle, by name", () => {
    const spec = Harness.builder()
      .process("api", { binary: node, dependsOn: ["db"] })
      .process("db", { binary: node, dependsOn: ["api"] })
      .toSpec();
    const error = errorOf(() => makePlan(spec, hostFacts()));
    expect(error.code).toBe("E_DEPENDENCY_CYCLE");
    expect(error.message).toBe("Dependency cycle: api -> db -> api; remove one of these `dependsOn` entries");
  });

  test("two services with the same fixed host port", () => {
    const spec = Harness.builder().process("a", { binary: node, port: 8080 }).process("b", { binary: node, port: 8080 }).toSpec();
    const error = errorOf(() => makePlan(spec, hostFacts()));
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.service).toBe("b");
    expect(error.message).toBe('Services "a" and "b" both want port 8080 on this host: give one of them another `port`, or `port: 0`');
  });

  test("a chosen port that collides with a fixed one", () => {
    const spec = Harness.builder().process("a", { binary: node, port: 8080 }).process("b", { binary: node, port: 0 }).toSpec();
    expect(errorOf(() => makePlan(spec, hostFacts({ ports: { b: 8080 } }))).code).toBe("E_PORT_IN_USE");
  });

  test("a container's published port that collides with a process's port", () => {
    const spec = topology(serviceSpec("api", "process", { port: 8080 }), serviceSpec("postgres", "docker", { port: 5432 }));
    const error = errorOf(() => makePlan(spec, hostFacts({ hostPorts: { postgres: 8080 }, ips: { postgres: { containerIp: "172.30.0.2" } } })));
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.message).toBe('Services "api" and "postgres" both want port 8080 on this host: give one of them another `port`, or `port: 0`');
  });

  test("the same port on different machines is no conflict", () => {
    const spec = topology(serviceSpec("api", "process", { port: 8080 }), serviceSpec("cache", "remote_lan", { port: 8080 }), serviceSpec("gen", "wireguard", { port: 8080 }));
    const facts = hostFacts({ ips: { cache: { lanIp: "192.168.50.10" }, gen: { meshIp: "10.42.0.2" } } });
    expect(Object.keys(makePlan(spec, facts).services)).toEqual(["api", "cache", "gen"]);
  });
});

describe("interpolation of env values and args", () => {
  const plan = (options: { env?: Record<string, string>; args?: string[] }, facts = hostFacts()) =>
    makePlan(
      Harness.builder()
        .process("db", { binary: node, port: 5432 })
        .process("api", { binary: node, port: 0, ...options })
        .toSpec(),
      { ...facts, ports: { api: 41001 } },
    ).services.api!;

  test("env values use the injected env", () => {
    const api = plan({
      env: {
        DATABASE_URL: "postgres://postgres:test@${DB_ADDR}/app",
        DB: "${DB_HOST}:${DB_PORT}",
        LISTEN: "0.0.0.0:${PORT}",
        ME: "${HARNESS_SERVICE} in ${HARNESS_RUN_ID}",
      },
    });
    expect(api.env).toMatchObject({
      DATABASE_URL: "postgres://postgres:test@127.0.0.1:5432/app",
      DB: "127.0.0.1:5432",
      LISTEN: "0.0.0.0:41001",
      ME: "api in t1",
    });
    // The spec keeps what the user wrote.
    expect(api.spec.env.DATABASE_URL).toBe("postgres://postgres:test@${DB_ADDR}/app");
  });

  test("args use the injected env and the service's own values", () => {
    const api = plan({ env: { MODE: "fast" }, args: ["--port", "${PORT}", "--db=${DB_ADDR}", "--mode", "${MODE}", "--home", "${HOME}"] });
    expect(api.args).toEqual(["--port", "41001", "--db=127.0.0.1:5432", "--mode", "fast", "--home", "/home/tester"]);
    expect(api.spec.args[1]).toBe("${PORT}");
  });

  test("`$$` is a literal `$`, in env values and args", () => {
    const api = plan({ env: { PRICE: "$$5", TEMPLATE: "$${DB_ADDR}" }, args: ["$${PORT}", "$$HOME"] });
    expect(api.env.PRICE).toBe("$5");
    expect(api.env.TEMPLATE).toBe("${DB_ADDR}");
    expect(api.args).toEqual(["${PORT}", "$HOME"]);
  });

  test("`${VAR:-default}`", () => {
    const api = plan({ env: { LEVEL: "${LOG_LEVEL:-info}", DB: "${DB_ADDR:-none}" }, args: ["${MISSING:-x}"] });
    expect(api.env.LEVEL).toBe("info");
    expect(api.env.DB).toBe("127.0.0.1:5432");
    expect(api.args).toEqual(["x"]);
  });

  test("the host's env is the last scope", () => {
    const api = plan({ env: { H: "${HOME}", P: "${PORT}" } }, hostFacts({ hostEnv: { HOME: "/root", PORT: "1" } }));
    expect(api.env.H).toBe("/root");
    // The injected PORT comes before the host's.
    expect(api.env.P).toBe("41001");
  });

  test("a value may use another of the service's values, in any order", () => {
    const api = plan({ env: { URL: "http://${BASE}/v1", BASE: "${DB_HOST}:${PORT}" }, args: ["${URL}"] });
    expect(api.env.BASE).toBe("127.0.0.1:41001");
    expect(api.env.URL).toBe("http://127.0.0.1:41001/v1");
    expect(api.args).toEqual(["http://127.0.0.1:41001/v1"]);
  });

  test("a value that uses its own name reads the host's variable, as `export PATH=/x:$PATH` does", () => {
    const api = plan({ env: { PATH: "/opt/app/bin:${PATH}", BIN: "${PATH}" } });
    expect(api.env.PATH).toBe("/opt/app/bin:/usr/bin:/bin");
    expect(api.env.BIN).toBe("/opt/app/bin:/usr/bin:/bin");
  });

  test("values that use each other in a loop are an error naming the loop", () => {
    const error = errorOf(() => plan({ env: { A: "${B}", B: "${C}", C: "x${A}" } }));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.service).toBe("api");
    expect(error.message).toBe('The env values of service "api" refer to each other in a loop: A -> B -> C -> A, and the host has no A to start from: give one of them a value without the others');
  });

  test("an unknown variable in env is E_UNKNOWN_VARIABLE, with the field and a suggestion", () => {
    const error = errorOf(() => plan({ env: { URL: "postgres://${DB_ADR}/app" } }));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.service).toBe("api");
    expect(error.message).toBe('`env.URL` of service "api" uses ${DB_ADR}, which is not defined: did you mean ${DB_ADDR}?');
  });

  test("an unknown variable in args names the argument", () => {
    const error = errorOf(() => plan({ args: ["--x", "${NOT_A_THING_AT_ALL}"] }));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.message).toBe('`args[1]` of service "api" uses ${NOT_A_THING_AT_ALL}, which is not defined; write $${NOT_A_THING_AT_ALL} for a literal, or ${NOT_A_THING_AT_ALL:-default}');
  });

  test("a peer's variables are for peers: a service's own X_ADDR is unknown to it", () => {
    const error = errorOf(() => plan({ env: { SELF: "${API_ADDR}" } }));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
  });
});

describe("a mixed topology: process, container, LAN node, WireGuard node", () => {
  // Built directly: the plan only reads ServiceSpecs, whichever builder method made them.
  const spec = topology(
    serviceSpec("api-server", "process", { port: 8080, env: { DATABASE_URL: "postgres://${POSTGRES_ADDR}/app" } }),
    serviceSpec("postgres", "docker", { port: 5432, env: { POSTGRES_PASSWORD: "test" } }),
    serviceSpec("cache-server", "remote_lan", { port: 6379, args: ["--announce", "${CACHE_SERVER_HOST:-none}", "--api", "${API_SERVER_ADDR}"] }),
    serviceSpec("load-generator", "wireguard", { port: 0, dependsOn: ["api-server"], options: { remoteRoot: "/srv/mb" } }),
  );
  const facts = hostFacts({
    ports: { "load-generator": 9000 },
    hostPorts: { postgres: 32768 },
    ips: {
      postgres: { containerIp: "172.30.0.2" },
      "cache-server": { lanIp: "192.168.50.10", meshIp: "10.42.0.3" },
      "load-generator": { lanIp: "198.51.100.20", meshIp: "10.42.0.2" },
    },
    addresses: {
      containerGateway: "172.30.0.1",
      lanIpToward: { "192.168.50.10": "192.168.50.1" },
      hubMeshIp: "10.42.0.1",
    },
  });
  const plan = makePlan(spec, facts);
  const peers = (prefix: string, host: string, port: number) => ({
    [`${prefix}_ADDR`]: `${host}:${port}`,
    [`${prefix}_HOST`]: host,
    [`${prefix}_PORT`]: String(port),
  });

  test("the mesh is needed because a wireguard service exists", () => {
    expect(plan.meshNeeded).toBe(true);
    expect(plan.levels).toEqual([["api-server", "postgres", "cache-server"], ["load-generator"]]);
  });

  test("the local process reaches the container by its IP, the nodes by LAN and mesh IP", () => {
    expect(plan.services["api-server"]!.env).toEqual({
      ...peers("POSTGRES", "172.30.0.2", 5432),
      ...peers("CACHE_SERVER", "192.168.50.10", 6379),
      ...peers("LOAD_GENERATOR", "10.42.0.2", 9000),
      PORT: "8080",
      HARNESS_RUN_ID: "t1",
      HARNESS_SERVICE: "api-server",
      HARNESS_ENV_FILE: "/tmp/harness-t1/api-server/service.env",
      DATABASE_URL: "postgres://172.30.0.2:5432/app",
    });
  });

  test("the container reaches the host's process through its gateway", () => {
    expect(plan.services.postgres!.env).toMatchObject({
      ...peers("API_SERVER", "172.30.0.1", 8080),
      ...peers("CACHE_SERVER", "192.168.50.10", 6379),
      ...peers("LOAD_GENERATOR", "10.42.0.2", 9000),
      PORT: "5432",
      HARNESS_SERVICE: "postgres",
      POSTGRES_PASSWORD: "test",
    });
    // The docker runtime copies the env file to this path inside the container.
    expect(plan.services.postgres!.env.HARNESS_ENV_FILE).toBe("/opt/harness/postgres/service.env");
    expect(plan.services.postgres!.envFile).toBe("/opt/harness/postgres/service.env");
  });

  test("the LAN node reaches the host at the harness's LAN IP, the container at its published port", () => {
    const cache = plan.services["cache-server"]!;
    expect(cache.env).toEqual({
      ...peers("API_SERVER", "192.168.50.1", 8080),
      ...peers("POSTGRES", "192.168.50.1", 32768),
      ...peers("LOAD_GENERATOR", "10.42.0.2", 9000),
      PORT: "6379",
      HARNESS_RUN_ID: "t1",
      HARNESS_SERVICE: "cache-server",
      HARNESS_ENV_FILE: "/opt/harness/cache-server/service.env",
    });
    expect(cache.envFile).toBe("/opt/harness/cache-server/service.env");
    expect(cache.args).toEqual(["--announce", "none", "--api", "192.168.50.1:8080"]);
  });

  test("the WireGuard node reaches everything through the mesh", () => {
    const gen = plan.services["load-generator"]!;
    expect(gen.env).toEqual({
      ...peers("API_SERVER", "10.42.0.1", 8080),
      ...peers("POSTGRES", "10.42.0.1", 32768),
      ...peers("CACHE_SERVER", "10.42.0.3", 6379),
      PORT: "9000",
      HARNESS_RUN_ID: "t1",
      HARNESS_SERVICE: "load-generator",
      HARNESS_ENV_FILE: "/srv/mb/load-generator/service.env",
    });
    expect(gen.envFile).toBe("/srv/mb/load-generator/service.env");
  });

  test("every address of every service, and the one from the host", () => {
    expect(plan.services["api-server"]!.addresses).toEqual({ host: "127.0.0.1:8080" });
    expect(plan.services.postgres!.addr).toBe("172.30.0.2:5432");
    expect(plan.services.postgres!.addresses).toEqual({ host: "172.30.0.2:5432", container: "172.30.0.2:5432" });
    expect(plan.services["cache-server"]!.addr).toBe("192.168.50.10:6379");
    expect(plan.services["cache-server"]!.addresses).toEqual({
      host: "192.168.50.10:6379",
      lan: "192.168.50.10:6379",
      wireguard: "10.42.0.3:6379",
    });
    expect(plan.services["load-generator"]!.addr).toBe("10.42.0.2:9000");
    expect(plan.services["load-generator"]!.addresses).toEqual({
      host: "10.42.0.2:9000",
      lan: "198.51.100.20:9000",
      wireguard: "10.42.0.2:9000",
    });
  });

  test("addrFor answers for any caller, as DESIGN's example does", () => {
    expect(addrFor(plan, "postgres", "load-generator")).toBe("10.42.0.1:32768");
    expect(addrFor(plan, "postgres", "api-server")).toBe("172.30.0.2:5432");
    expect(addrFor(plan, "api-server", "cache-server")).toBe("192.168.50.1:8080");
  });

  test("without a wireguard service there is no mesh, and LAN nodes use LAN IPs", () => {
    const lanOnly = makePlan(
      topology(serviceSpec("api", "process", { port: 8080 }), serviceSpec("cache", "remote_lan", { port: 6379 })),
      hostFacts({ ips: { cache: { lanIp: "192.168.50.10" } }, addresses: { lanIpToward: { "192.168.50.10": "192.168.50.1" } } }),
    );
    expect(lanOnly.meshNeeded).toBe(false);
    expect(lanOnly.services.api!.env.CACHE_ADDR).toBe("192.168.50.10:6379");
    expect(lanOnly.services.cache!.env.API_ADDR).toBe("192.168.50.1:8080");
  });
});

describe("a process's files", () => {
  test("a process with `files` is told their dir as HARNESS_FILES_DIR, which args, env and templates can use; one without is not", () => {
    const spec = Harness.builder()
      .process("api", {
        binary: node,
        args: ["--config", "${HARNESS_FILES_DIR}/app.conf"],
        env: { CONF_DIR: "${HARNESS_FILES_DIR}/conf" },
        files: { "app.conf": { template: "./app.conf.template" }, "conf/extra.ini": "x=1\n" },
      })
      .process("worker", { binary: node })
      .toSpec();
    const plan = makePlan(spec, hostFacts());
    expect(plan.services.api!.env.HARNESS_FILES_DIR).toBe("/tmp/harness-t1/api/files");
    expect(plan.services.api!.args).toEqual(["--config", "/tmp/harness-t1/api/files/app.conf"]);
    expect(plan.services.api!.env.CONF_DIR).toBe("/tmp/harness-t1/api/files/conf");
    expect(plan.services.worker!.env).toEqual({ API_HOST: "127.0.0.1", ...own("worker") });
  });

  test.each([
    ["/etc/app.conf", /relative, normalized path of a file without \.\./],
    ["../escape.conf", /relative, normalized path/],
    ["a/../../b", /relative, normalized path/],
    ["conf/", /relative, normalized path/],
    ["./app.conf", /relative, normalized path/],
  ])("refuses the file name %j", (name, message) => {
    const error = errorOf(() => Harness.builder().process("api", { binary: node, files: { [name]: "x" } }));
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toMatch(message);
  });

  test("an entry has exactly one of content, path and template", () => {
    const error = errorOf(() => Harness.builder().process("api", { binary: node, files: { "a.conf": { path: "a", template: "b" } as never } }));
    expect(error.message).toContain('Expected `files.a.conf` of service "api" to have exactly one of `content`, `path` and `template`, got `path` and `template`');
  });
});
