import { describe, expect, test } from "vitest";
import { dependencyLevels } from "../../src/plan/order.js";
import { parseTopology } from "../../src/topology/yaml.js";
import { thrown } from "../support/errors.js";

const yaml = (extra: string) =>
  `reuse: true\nservices:\n  api:\n    target: { process: { binary: ./api } }\n    watch: ["src/**/*.ts"]\n  web:\n    target: { process: { binary: ./web } }\n${extra}`;

describe("reuse, watch and restart_with", () => {
  test("YAML `reuse`, `watch` and `restart_with` reach the spec", () => {
    const spec = parseTopology(yaml("    restart_with: [api]\n"));
    expect(spec.options.reuse).toBe(true);
    expect(spec.services[0]!.watch).toEqual(["src/**/*.ts"]);
    expect(spec.services[1]!.restartWith).toEqual(["api"]);
    expect(dependencyLevels(spec.services)).toEqual([["api", "web"]]);
  });

  test("a service that restarts with an unknown one is refused, with a suggestion", () => {
    const spec = parseTopology(yaml("    restart_with: [apj]\n"));
    expect(thrown(() => dependencyLevels(spec.services))).toMatchObject({ code: "E_UNKNOWN_DEPENDENCY", service: "web", message: expect.stringContaining('did you mean "api"') });
  });

  test("a service that restarts with itself, or a `watch` that is no list, is refused by path", () => {
    expect(thrown(() => parseTopology(yaml("    restart_with: [web]\n"))).message).toContain("restart_with");
    expect(thrown(() => parseTopology(yaml("    watch: src\n"))).message).toContain("watch");
  });
});
