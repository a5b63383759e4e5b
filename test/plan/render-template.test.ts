import { describe, expect, test } from "vitest";
import { referencedVariables } from "../../src/plan/interpolate.js";
import { looksSecret, renderTemplate, serviceFileContent } from "../../src/plan/render-template.js";
import { thrown } from "../support/errors.js";

const env = { DB_ADDR: "10.42.0.2:5432", PORT: "8080", DB_PASSWORD: "s3cr3t 'quoted' $(x)", EMPTY: "" };
const where = { service: "api", file: "config/app.conf.template" };

describe("renderTemplate", () => {
  test("renders ${VAR}, ${VAR:-default} and $$ by the rules of env values, line by line", () => {
    const text = ["listen = 0.0.0.0:${PORT}", "db = postgres://${DB_ADDR}/app", "level = ${LOG_LEVEL:-info}", "empty = ${EMPTY:-none}", "price = $$5 and $HOME", ""].join("\n");
    const rendered = renderTemplate(text, env, where);
    expect(rendered.content).toBe(["listen = 0.0.0.0:8080", "db = postgres://10.42.0.2:5432/app", "level = info", "empty = none", "price = $5 and $HOME", ""].join("\n"));
    expect(rendered.mode).toBe(0o644);
    expect(rendered.secrets).toEqual([]);
  });

  test("a value goes in as it is: no quoting, no second interpolation", () => {
    expect(renderTemplate("password=${DB_PASSWORD}", env, where).content).toBe("password=s3cr3t 'quoted' $(x)");
    expect(renderTemplate("${A}", { A: "${B}", B: "no" }, where).content).toBe("${B}");
  });

  test("a template that refers to a secret-looking variable is 0600, with or without a default", () => {
    expect(renderTemplate("password=${DB_PASSWORD}", env, where)).toMatchObject({ mode: 0o600, secrets: ["DB_PASSWORD"] });
    expect(renderTemplate("token=${API_TOKEN:-none}", env, where)).toMatchObject({ content: "token=none", mode: 0o600, secrets: ["API_TOKEN"] });
    // `$${…}` is a literal, not a reference.
    expect(renderTemplate("example: $${DB_PASSWORD}", env, where)).toMatchObject({ content: "example: ${DB_PASSWORD}", mode: 0o644 });
    // A mode given wins.
    expect(renderTemplate("password=${DB_PASSWORD}", env, { ...where, mode: 0o640 }).mode).toBe(0o640);
  });

  test("an unknown variable is E_UNKNOWN_VARIABLE naming the file and the line, with a suggestion", () => {
    const error = thrown(() => renderTemplate("a = 1\n\nb = ${DB_ADR}\n", env, where));
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.service).toBe("api");
    expect(error.message).toBe('Line 3 of config/app.conf.template of service "api" uses ${DB_ADR}, which is not defined: did you mean ${DB_ADDR}?');
    const far = thrown(() => renderTemplate("x = ${SOMETHING_ELSE}", env, where));
    expect(far.message).toBe(
      'Line 1 of config/app.conf.template of service "api" uses ${SOMETHING_ELSE}, which is not defined; write $${SOMETHING_ELSE} for a literal, or ${SOMETHING_ELSE:-default}',
    );
  });

  test("the host's env is not a scope: a template sees what the service's env file has", () => {
    expect(thrown(() => renderTemplate("${HOME}", env, where)).code).toBe("E_UNKNOWN_VARIABLE");
  });
});

describe("looksSecret and referencedVariables", () => {
  test.each([
    ["POSTGRES_PASSWORD", true],
    ["API_TOKEN", true],
    ["CLIENT_SECRET", true],
    ["WG_PRIVATE_KEY", true],
    ["AWS_CREDENTIALS", true],
    ["auth_header", true],
    ["DB_ADDR", false],
    ["PORT", false],
    ["HARNESS_ENV_FILE", false],
  ])("%s → %s", (name, secret) => {
    expect(looksSecret(name)).toBe(secret);
  });

  test("lists each variable once, in order, defaults included, literals not", () => {
    expect(referencedVariables("${A} ${B:-x} $${C} ${A} $$ ${D:-}")).toEqual(["A", "B", "D"]);
  });
});

describe("serviceFileContent", () => {
  const service = { name: "web", env };
  const read = (file: string) => ({ content: Buffer.from(file === "app.tpl" ? "db=${DB_ADDR}\n" : "raw ${NOT_RENDERED}\n"), mode: 0o640 });

  test("content as written, host files as they are, templates rendered", () => {
    expect(serviceFileContent("/a", { content: "x", mode: 0o644 }, service, read)).toEqual({ content: Buffer.from("x"), mode: 0o644 });
    expect(serviceFileContent("/b", { path: "raw", mode: undefined }, service, read)).toEqual({ content: Buffer.from("raw ${NOT_RENDERED}\n"), mode: 0o640 });
    expect(serviceFileContent("/c", { template: "app.tpl", mode: undefined }, service, read)).toEqual({ content: Buffer.from("db=10.42.0.2:5432\n"), mode: 0o644 });
  });

  test("an unknown variable names the template and the files entry", () => {
    const error = thrown(() => serviceFileContent("/etc/x.conf", { template: "raw", mode: undefined }, service, read));
    expect(error.message).toBe(
      'Line 1 of the template raw (`files["/etc/x.conf"]`) of service "web" uses ${NOT_RENDERED}, which is not defined; write $${NOT_RENDERED} for a literal, or ${NOT_RENDERED:-default}',
    );
  });
});
