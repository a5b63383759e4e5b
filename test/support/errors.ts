import { expect } from "vitest";
import { ConfigError, HarnessError } from "../../src/errors.js";

/** The error `call` throws, asserted to be a `HarnessError` of `kind` (default `ConfigError`). */
export function thrown<E extends HarnessError = ConfigError>(call: () => unknown, kind: abstract new (...args: never[]) => E = ConfigError as never): E {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(kind);
    expect(error).toBeInstanceOf(HarnessError);
    return error as E;
  }
  throw new Error("expected the call to throw");
}
