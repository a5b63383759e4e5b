import { describe, expect, test } from "vitest";
import { interpolate } from "../../src/plan/interpolate.js";
import { thrown as errorOf } from "../support/errors.js";

const where = { service: "api", field: "env.URL" };
const scopes = [
  { DB_ADDR: "127.0.0.1:5432", DB_HOST: "127.0.0.1", EMPTY: "" },
  { HOME: "/home/tester", DB_ADDR: "shadowed" },
];
const run = (text: string) => interpolate(text, scopes, where);

describe("interpolate", () => {
  test.each([
    ["postgres://${DB_ADDR}/app", "postgres://127.0.0.1:5432/app"],
    ["${DB_HOST}${DB_HOST}", "127.0.0.1127.0.0.1"],
    ["${HOME}/data", "/home/tester/data"],
    ["no variables", "no variables"],
    ["", ""],
    // `$$` is a literal `$`, so `$${X}` is the text `${X}`.
    ["$$", "$"],
    ["$${DB_ADDR}", "${DB_ADDR}"],
    ["cost: $$5", "cost: $5"],
    ["$$$${DB_HOST}", "$${DB_HOST}"],
    ["$$${DB_HOST}", "$127.0.0.1"],
    // Only `${VAR}` is interpolated: `$VAR` and a lone `$` are left for the service's own shell.
    ["$HOME and a $ sign", "$HOME and a $ sign"],
    ["${NOPE:-fallback}", "fallback"],
    ["${NOPE:-}", ""],
    ["${NOPE:-a b:c/d}", "a b:c/d"],
    ["${DB_HOST:-unused}", "127.0.0.1"],
  ])("%j → %j", (text, expected) => {
    expect(run(text)).toBe(expected);
  });

  test("the first scope that has the variable wins", () => {
    expect(run("${DB_ADDR}")).toBe("127.0.0.1:5432");
  });

  test("a value is not interpolated again", () => {
    expect(interpolate("${A}", [{ A: "${B}", B: "no" }], where)).toBe("${B}");
    expect(interpolate("${A}", [{ A: "$$" }], where)).toBe("$$");
  });

  test("`${VAR:-default}` takes the default when the variable is empty, as in sh and compose", () => {
    expect(run("${EMPTY:-fallback}")).toBe("fallback");
    expect(run("[${EMPTY}]")).toBe("[]");
  });

  test("an unknown variable is E_UNKNOWN_VARIABLE, naming the service and the field, with a suggestion", () => {
    const error = errorOf(() => run("postgres://${DB_ADR}/app"));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.service).toBe("api");
    expect(error.message).toBe('`env.URL` of service "api" uses ${DB_ADR}, which is not defined: did you mean ${DB_ADDR}?');
  });

  test("without a close name, the message shows how to write a literal or a default", () => {
    const error = errorOf(() => run("${SOMETHING_ELSE}"));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.message).toBe('`env.URL` of service "api" uses ${SOMETHING_ELSE}, which is not defined; write $${SOMETHING_ELSE} for a literal, or ${SOMETHING_ELSE:-default}');
  });
});
