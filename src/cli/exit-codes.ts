import { ConfigError, type ErrorCode, HarnessError } from "../errors.js";

/** Codes of input that is wrong before anything starts: a topology, an option, a package folder. */
const BAD_INPUT: readonly ErrorCode[] = ["E_CONFIG", "E_YAML", "E_DUPLICATE_SERVICE", "E_UNKNOWN_DEPENDENCY", "E_DEPENDENCY_CYCLE", "E_UNKNOWN_VARIABLE", "E_PACKAGE_INVALID"];

/** 0 ok, 1 a service failed, 2 bad input. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ConfigError) return 2;
  if (error instanceof HarnessError && BAD_INPUT.includes(error.code)) return 2;
  if (isUsageError(error)) return 2;
  return 1;
}

/** node:util's parseArgs errors: an unknown option, a missing value, a stray argument. */
export function isUsageError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && "code" in error && typeof error.code === "string" && error.code.startsWith("ERR_PARSE_ARGS_");
}
