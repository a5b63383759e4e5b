import { ConfigError } from "../errors.js";

/** 0 ok, 1 a service failed, 2 bad input. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ConfigError) return 2;
  if (error instanceof Error && "code" in error && error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return 2;
  return 1;
}
