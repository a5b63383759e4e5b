import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { shellQuote } from "../../src/host/shell-quote.js";
import { renderEnvFile } from "../../src/plan/env-file.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-env-file-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file that exists only if some value was executed instead of quoted. */
const canary = path.join(dir, "executed");

const values: Record<string, string> = {
  PLAIN: "127.0.0.1:5432",
  URL: "postgres://user:p@ss@10.0.0.1:5432/app?sslmode=disable&x=1",
  SUBSHELL: `$(touch ${canary})`,
  BACKTICKS: `\`touch ${canary}\``,
  VARIABLE: "$HOME ${HOME} $0 $1 $$ $?",
  SINGLE_QUOTES: "it's 'quoted' '\\''",
  DOUBLE_QUOTES: 'say "hi" \\"there\\"',
  SEMICOLON: `a; touch ${canary}; b`,
  AMPERSANDS: `x && touch ${canary} || touch ${canary} & wait`,
  PIPE_REDIRECT: `a | tee ${canary} > ${canary} < /dev/null`,
  NEWLINES: `line one\nline two\n\ntouch ${canary}\n`,
  SPACES: "  leading and trailing  ",
  TABS: "\tx\t",
  EMPTY: "",
  BACKSLASHES: "C:\\path\\to\\n \\\\ \\",
  GLOB: "* ? [a-z] ~ ~root",
  HASH: "# not a comment",
  BANG: "!! !$ !-1",
  BRACES: "{a,b} ${x:-y} ${",
  UNICODE: "héllo wörld ✓ 日本",
  DASHES: "--flag=-e",
  EQUALS: "a=b=c",
  CARRIAGE: "a\r\nb\r",
  CONTROL: "\x01\x1b[31mred\x1b[0m",
};

const file = path.join(dir, "service.env");
fs.writeFileSync(file, renderEnvFile(values));

/** Sources the file in `shell` and prints every variable, NUL-separated. */
function sourceAndPrint(shell: string, names: string[]): string[] {
  const script = `. "$1" && printf '%s\\0' ${names.map((n) => `"$${n}"`).join(" ")}`;
  const out = execFileSync(shell, ["-c", script, shell, file], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: "/home/x" } });
  return out.split("\0").slice(0, -1);
}

describe("renderEnvFile", () => {
  test("writes one `export KEY=value` line per variable", () => {
    expect(renderEnvFile({ A: "1", B_ADDR: "127.0.0.1:80", C: "two words" })).toBe("export A=1\nexport B_ADDR=127.0.0.1:80\nexport C='two words'\n");
    expect(renderEnvFile({})).toBe("");
  });

  test.each(["sh", "bash"])("sourced by %s, every value round-trips and nothing is executed", (shell) => {
    const names = Object.keys(values);
    const printed = sourceAndPrint(shell, names);
    expect(Object.fromEntries(names.map((n, i) => [n, printed[i]]))).toEqual(values);
    expect(fs.existsSync(canary)).toBe(false);
  });

  test("the variables are exported to what the script starts", () => {
    const out = execFileSync("sh", ["-c", '. "$1" && exec env -0', "sh", file], { encoding: "utf8", env: {} });
    const env = Object.fromEntries(
      out
        .split("\0")
        .filter(Boolean)
        .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
    );
    expect(env).toMatchObject(values);
    expect(fs.existsSync(canary)).toBe(false);
  });

  test("a value exactly like a shell's own quoting does not break out", () => {
    const tricky = { X: `'; touch ${canary}; echo '`, Y: "'\"'\"'" };
    const trickyFile = path.join(dir, "tricky.env");
    fs.writeFileSync(trickyFile, renderEnvFile(tricky));
    const out = execFileSync("sh", ["-c", `. "$1" && printf '%s\\0' "$X" "$Y"`, "sh", trickyFile], { encoding: "utf8" });
    expect(out.split("\0").slice(0, -1)).toEqual([tricky.X, tricky.Y]);
    expect(fs.existsSync(canary)).toBe(false);
  });
});

describe("shellQuote", () => {
  test("leaves safe words bare and single-quotes everything else", () => {
    expect(shellQuote("127.0.0.1:5432")).toBe("127.0.0.1:5432");
    expect(shellQuote("/opt/harness/api/service.env")).toBe("/opt/harness/api/service.env");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("$HOME")).toBe("'$HOME'");
  });
});
