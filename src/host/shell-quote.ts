/**
 * Single-quotes a string for POSIX shells: nothing inside is expanded. Pure: the plan (env files),
 * the SSH transport and the mesh's node commands all quote with it.
 */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
