const COLORS = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95];

/** `name | ` padded to the longest name, coloured per service on a TTY. */
export function prefixer(names: readonly string[], color: boolean): (service: string) => string {
  const width = Math.max(...names.map((n) => n.length));
  return (service) => {
    const text = `${service.padEnd(width)} | `;
    if (!color) return text;
    const code = COLORS[Math.max(0, names.indexOf(service)) % COLORS.length];
    return `\u001b[${code}m${text}\u001b[0m`;
  };
}
