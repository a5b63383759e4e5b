import type { CommonServiceOptions } from "../../topology/common-options.js";
import { type ResolvedServiceFile, type ServiceFile, validateServiceFiles } from "../../topology/service-files.js";
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
  /**
   * Files written for the process before it starts, by relative path, under the service's own dir in the
   * run's state dir: given to it as `HARNESS_FILES_DIR` (`/tmp/harness-<runId>/<service>/files`), so that
   * `args: ["--config", "${HARNESS_FILES_DIR}/app.conf"]` finds one. Each is its content (`"text"`), a
   * host file (`{ path }`, copied), or a template (`{ template: "./app.conf.template" }`, rendered with
   * the service's env, mode 0600 when it refers to a secret-looking variable). Removed with the run.
   * Default: none (and no `HARNESS_FILES_DIR`).
   */
  files?: Readonly<Record<string, ServiceFile>>;
}

export const PROCESS_KEYS = ["binary", "args", "cwd", "inheritEnv", "files"] as const;

/** Target options of a process service, after validation. */
export type ProcessTarget = {
  binary: string;
  cwd: string | undefined;
  inheritEnv: boolean;
  files: Record<string, ResolvedServiceFile>;
};

export function validateProcessOptions(options: Record<string, unknown>, at: At): { args: string[]; options: ProcessTarget } {
  return {
    args: stringArray(options.args, at.child("args")),
    options: {
      binary: string(options.binary, at.child("binary")),
      cwd: optionalString(options.cwd, at.child("cwd")),
      inheritEnv: boolean(options.inheritEnv, at.child("inheritEnv"), true),
      files: validateServiceFiles(options.files, at.child("files"), "relative"),
    },
  };
}
