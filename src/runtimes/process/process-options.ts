import type { CommonServiceOptions } from "../../topology/common-options.js";
import { type At, boolean, optionalString, string, stringArray } from "../../topology/validate.js";

/** A local process. */
export interface ProcessOptions<Names extends string = string> extends CommonServiceOptions<Names> {
  /** Executable: a path (relative to `cwd`) or a name looked up on `PATH`. */
  binary: string;
  /** Arguments; may use `${VAR}` like env values. Default: none. */
  args?: readonly string[];
  /** Working directory. Default: the harness process's cwd. */
  cwd?: string;
  /** Whether the process inherits the harness process's environment under the injected one. Default: true. */
  inheritEnv?: boolean;
}

export const PROCESS_KEYS = ["binary", "args", "cwd", "inheritEnv"] as const;

/** Target options of a process service, after validation. */
export type ProcessTarget = {
  binary: string;
  cwd: string | undefined;
  inheritEnv: boolean;
};

export function validateProcessOptions(options: Record<string, unknown>, at: At): { args: string[]; options: ProcessTarget } {
  return {
    args: stringArray(options.args, at.child("args")),
    options: {
      binary: string(options.binary, at.child("binary")),
      cwd: optionalString(options.cwd, at.child("cwd")),
      inheritEnv: boolean(options.inheritEnv, at.child("inheritEnv"), true),
    },
  };
}
