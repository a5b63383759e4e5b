import type { PackResult } from "./package-archive.js";

export type { PackResult } from "./package-archive.js";
export type { PackageManifest } from "./manifest.js";

/**
 * Builds a service package (ADR-007 §4) from `dir` into `out` (default `<name>-<version>.tar.gz`):
 * checks `manifest.yaml`, the required scripts (executable) and the config templates, with errors that
 * name the file and the field.
 * The archive code loads only when a package is made.
 */
export async function pack(dir: string, out?: string): Promise<PackResult> {
  return (await import("./package-archive.js")).pack(dir, out);
}
