/**
 * Runs each side of a comparison in the same run, interleaved (A B A B …) after a warm-up, and
 * reports medians and the ratio of every side to the baseline, with min and max.
 */
export interface Side {
  /** One measured run: returns the measured time in ms (set-up and clean-up outside the timing). */
  run: () => Promise<number>;
}

export interface ComparisonRow {
  figure: string;
  side: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** median(side) / median(baseline). */
  ratio: number;
  baseline: string;
  /** The target on the ratio of `meshbed` to this side, as text ("<= 1.15"). */
  target?: string;
  met?: boolean;
  note?: string;
}

export interface Comparison {
  figure: string;
  /** The side every ratio is taken against. */
  baseline: string;
  sides: Record<string, Side>;
  /** Targets on meshbed's ratio against other sides: side name → max (or min with ">="). */
  targets?: Record<string, string>;
  runs?: number;
  warmup?: number;
  notes?: Record<string, string>;
}

export async function compare(c: Comparison): Promise<ComparisonRow[]> {
  const runs = c.runs ?? Number(process.env.BENCH_RUNS ?? 7);
  const warmup = c.warmup ?? 1;
  const names = Object.keys(c.sides);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < warmup + runs; i++) {
    for (const name of names) {
      const ms = await c.sides[name]!.run();
      if (i >= warmup) times[name]!.push(ms);
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const base = median(times[c.baseline]!);
  const rows: ComparisonRow[] = names.map((name) => ({
    figure: c.figure,
    side: name,
    runs,
    medianMs: round(median(times[name]!)),
    minMs: round(Math.min(...times[name]!)),
    maxMs: round(Math.max(...times[name]!)),
    ratio: round(median(times[name]!) / base, 3),
    baseline: c.baseline,
    ...(c.notes?.[name] !== undefined && { note: c.notes[name] }),
  }));
  // A target is on meshbed's median against the named side.
  const ours = rows.find((r) => r.side === "meshbed");
  for (const [side, target] of Object.entries(c.targets ?? {})) {
    const other = rows.find((r) => r.side === side);
    if (!ours || !other) continue;
    const ratio = round(ours.medianMs / other.medianMs, 3);
    const [op, value] = target.startsWith(">=") ? [">=", Number(target.slice(2))] : ["<=", Number(target.replace("<=", ""))];
    ours.target = `${ours.target ? `${ours.target}; ` : ""}vs ${side}: ${ratio} (target ${op} ${value})`;
    ours.met = (ours.met ?? true) && (op === ">=" ? ratio >= value : ratio <= value);
  }
  return rows;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
