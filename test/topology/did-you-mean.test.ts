import { describe, expect, test } from "vitest";
import { closest } from "../../src/topology/did-you-mean.js";

describe("closest", () => {
  const options = ["port", "env", "dependsOn", "health", "startTimeoutMs", "binary", "args"];

  test.each([
    ["prot", "port"], // two letters swapped: one typo
    ["porrt", "port"],
    ["PORT", "port"], // case does not count
    ["heatlh", "health"],
    ["dependson", "dependsOn"],
    ["depends_on", "dependsOn"],
    ["binray", "binary"],
    ["arg", "args"],
  ])("%s → %s", (word, guess) => {
    expect(closest(word, options)).toBe(guess);
  });

  test("nothing when no candidate is close enough to be a typo", () => {
    expect(closest("image", options)).toBeUndefined();
    expect(closest("volumes", options)).toBeUndefined();
    expect(closest("x", [])).toBeUndefined();
  });

  test("the allowed distance grows with the word: a third of its length, at least one", () => {
    expect(closest("ab", ["xy"])).toBeUndefined();
    expect(closest("ab", ["ax"])).toBe("ax");
    expect(closest("abcdef", ["abxyef"])).toBe("abxyef");
    expect(closest("abcdef", ["xbxyef"])).toBeUndefined();
  });

  test("the first of equally close candidates wins", () => {
    expect(closest("cat", ["bat", "hat"])).toBe("bat");
  });
});
