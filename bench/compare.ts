/**
 * Runs each side of a comparison in the same run, interleaved (A B A B …) after a warm-up, and
 * reports medians and the ratio of every side to the baseline, with min and max.
 */
export interface Side {
  /**
   * One measured run: returns the measured time in ms (set-up and clean-up outside the timing), or
   * several measures of the same run by name (`{ start, restart, stop }`; see `Comparison.measures`).
   */
  run: () => Promise<number | Record<string, number>>;
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
  /** What the numbers count when not milliseconds ("MiB"). */
  unit?: string;
  /** How many services the measured topology has: the x of the start-vs-services chart. */
  services?: number;
  /** The chart line this row is a point of ("processes: meshbed"); only start-to-healthy rows have one. */
  series?: string;
}

/** One measure of a run whose sides return several: its own figure title, baseline and targets. */
export interface Measure {
  figure: string;
  baseline?: string;
  targets?: Record<string, string>;
  unit?: string;
  /** Charts this measure against the number of services, one line per side named "<chart>: <side>". */
  chart?: string;
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
  /** When the sides return named measures: one figure per measure name. */
  measures?: Record<string, Measure>;
  /** The topology's number of services (charted against start time). */
  services?: number;
  unit?: string;
  /** Charts the (single) measure against the number of services, one line per side named "<chart>: <side>". */
  chart?: string;
  /** Called between runs (not timed): e.g. to let the engine settle. */
  between?: () => Promise<void>;
}

/** Counted runs per comparison: `BENCH_RUNS` (default 7), capped at `preferred` (for slow figures), never fewer than 5. */
export function benchRuns(preferred?: number): number {
  const env = Number(process.env.BENCH_RUNS ?? 7);
  return Math.max(5, Math.min(env, preferred ?? env));
}

export async function compare(c: Comparison): Promise<ComparisonRow[]> {
  const runs = c.runs ?? benchRuns();
  const warmup = c.warmup ?? 1;
  const names = Object.keys(c.sides);
  // measure → side → times
  const times = new Map<string, Record<string, number[]>>();
  for (let i = 0; i < warmup + runs; i++) {
    for (const name of names) {
      const result = await c.sides[name]!.run();
      await c.between?.();
      if (i < warmup) continue;
      const measured = typeof result === "number" ? { "": result } : result;
      for (const [measure, ms] of Object.entries(measured)) {
        if (!times.has(measure)) times.set(measure, {});
        (times.get(measure)![name] ??= []).push(ms);
      }
    }
  }
  const rows: ComparisonRow[] = [];
  for (const [measure, bySide] of times) {
    const spec: Measure =
      measure === "" ? { figure: c.figure, baseline: c.baseline, targets: c.targets, unit: c.unit, chart: c.chart } : (c.measures?.[measure] ?? { figure: `${c.figure}: ${measure}` });
    rows.push(...summarize(spec, spec.baseline ?? c.baseline, bySide, c));
  }
  return rows;
}

function summarize(spec: Measure, baseline: string, bySide: Record<string, number[]>, c: Comparison): ComparisonRow[] {
  const { figure, targets, chart } = spec;
  const unit = spec.unit ?? c.unit;
  const base = median(bySide[baseline] ?? []);
  const rows: ComparisonRow[] = Object.entries(bySide).map(([name, xs]) => ({
    figure,
    side: name,
    runs: xs.length,
    medianMs: round(median(xs)),
    minMs: round(Math.min(...xs)),
    maxMs: round(Math.max(...xs)),
    ratio: round(median(xs) / base, 3),
    baseline,
    ...(c.notes?.[name] !== undefined && { note: c.notes[name] }),
    ...(unit !== undefined && { unit }),
    ...(c.services !== undefined && { services: c.services }),
    ...(chart !== undefined && c.services !== undefined && { series: `${chart}: ${name}` }),
  }));
  // A target is on meshbed's median against the named side.
  const ours = rows.find((r) => r.side === "meshbed");
  for (const [side, target] of Object.entries(targets ?? {})) {
    const other = rows.find((r) => r.side === side);
    if (!ours || !other) continue;
    const ratio = round(ours.medianMs / other.medianMs, 3);
    const [op, value] = target.startsWith(">=") ? [">=", Number(target.slice(2))] : ["<=", Number(target.replace("<=", ""))];
    ours.target = `${ours.target ? `${ours.target}; ` : ""}vs ${side}: ${ratio} (target ${op} ${value})`;
    ours.met = (ours.met ?? true) && (op === ">=" ? ratio >= value : ratio <= value);
  }
  return rows;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
