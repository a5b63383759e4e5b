import type { ProcessOptions } from "../../topology/types.js";
import { type At, boolean, optionalString, string, stringArray } from "../../topology/validate.js";

export type { ProcessOptions };

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
