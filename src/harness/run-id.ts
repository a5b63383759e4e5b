import { randomBytes } from "node:crypto";

/** Six lowercase letters and digits: short enough for interface names (`mb-<id>-…`, 15 characters). */
export function newRunId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join("");
}
