import { describe, expect, test } from "vitest";
import { dependencyLevels } from "../../src/plan/order.js";
import { serviceSpec } from "./fixtures.js";
import { thrown as errorOf } from "../support/errors.js";

const svc = (name: string, ...dependsOn: string[]) => serviceSpec(name, "process", { dependsOn });

describe("dependency levels", () => {
  test("services without dependencies form level 0, in the topology's order", () => {
    expect(dependencyLevels([svc("c"), svc("a"), svc("b")])).toEqual([["c", "a", "b"]]);
  });

  test("each service sits one level after its deepest dependency", () => {
    const levels = dependencyLevels([svc("web", "api"), svc("api", "db", "cache"), svc("db"), svc("cache", "db"), svc("metrics")]);
    expect(levels).toEqual([["db", "metrics"], ["cache"], ["api"], ["web"]]);
  });

  test("a diamond starts its shared dependency once, first", () => {
    expect(dependencyLevels([svc("top", "left", "right"), svc("left", "base"), svc("right", "base"), svc("base")])).toEqual([["base"], ["left", "right"], ["top"]]);
  });

  test("an empty topology has no levels", () => {
    expect(dependencyLevels([])).toEqual([]);
  });
});

describe("unknown dependencies", () => {
  test("are E_UNKNOWN_DEPENDENCY, with a suggestion when one is close", () => {
    const error = errorOf(() => dependencyLevels([svc("postgres"), svc("api", "postgress")]));
    expect(error.code).toBe("E_UNKNOWN_DEPENDENCY");
    expect(error.service).toBe("api");
    expect(error.message).toBe('Service "api" depends on "postgress", which is not in the topology: did you mean "postgres"?');
  });

  test("a swapped pair of letters is one typo", () => {
    const error = errorOf(() => dependencyLevels([svc("db"), svc("api", "bd")]));
    expect(error.message).toBe('Service "api" depends on "bd", which is not in the topology: did you mean "db"?');
  });

  test("without a close name, the message says what to do", () => {
    const error = errorOf(() => dependencyLevels([svc("db"), svc("api", "elasticsearch")]));
    expect(error.code).toBe("E_UNKNOWN_DEPENDENCY");
    expect(error.message).toBe('Service "api" depends on "elasticsearch", which is not in the topology; add it, or remove it from `dependsOn`');
  });
});

describe("cycles", () => {
  test.each([
    [[svc("api", "db"), svc("db", "api")], "api -> db -> api", "api"],
    [[svc("db", "api"), svc("api", "db")], "db -> api -> db", "db"],
    [[svc("a", "b"), svc("b", "c"), svc("c", "a")], "a -> b -> c -> a", "a"],
    // Only the services on the cycle are named, not the ones leading to it.
    [[svc("web", "api"), svc("api", "db"), svc("db", "cache"), svc("cache", "api")], "api -> db -> cache -> api", "api"],
    // The builder refuses a service that depends on itself; the plan still reports it as a cycle.
    [[svc("api", "api")], "api -> api", "api"],
  ])("are E_DEPENDENCY_CYCLE, named: %#", (services, cycle, service) => {
    const error = errorOf(() => dependencyLevels(services));
    expect(error.code).toBe("E_DEPENDENCY_CYCLE");
    expect(error.service).toBe(service);
    expect(error.message).toBe(`Dependency cycle: ${cycle}; remove one of these \`dependsOn\` entries`);
  });

  test("an unknown dependency is reported before a cycle", () => {
    const error = errorOf(() => dependencyLevels([svc("a", "b"), svc("b", "a", "zzz-missing")]));
    expect(error.code).toBe("E_UNKNOWN_DEPENDENCY");
  });
});
