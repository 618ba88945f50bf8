/**
 * Goals for benchmark figures: `goal()` returns the text to print after a figure (` ✓ goal
 * <= 1.15x` or ` ✗ MISSED goal <= 1.15x`) and remembers a miss; `exitOnMissedGoals()` at
 * the end of a bench prints what missed and sets a non-zero exit code, so `npm run bench`
 * (bench/run.ts) fails when any figure misses its goal.
 */

export interface Goal {
  /** What the figure is, for the summary: `poll-usage wall-time ratio`. */
  name: string;
  /** At most (`<=`) or at least (`>=`) this. */
  op: '<=' | '>=';
  limit: number;
  /** Printed after the limit: `x`, ` ms`, ` KB`. */
  unit?: string;
}

const missed: string[] = [];

/** Whether `value` meets the goal (pure; for tests and for `goal`). */
export function meets(value: number, g: Pick<Goal, 'op' | 'limit'>): boolean {
  return g.op === '<=' ? value <= g.limit : value >= g.limit;
}

/** The mark to print after a figure; a miss is remembered for exitOnMissedGoals. */
export function goal(value: number, g: Goal): string {
  const target = `goal ${g.op} ${g.limit}${g.unit ?? ''}`;
  if (meets(value, g)) return ` ✓ ${target}`;
  missed.push(`${g.name}: ${value}${g.unit ?? ''}, ${target}`);
  return ` ✗ MISSED ${target}`;
}

/** Prints the misses (if any) and sets process.exitCode = 1 for them. */
export function exitOnMissedGoals(out: (line: string) => void = console.log): void {
  if (missed.length === 0) return;
  out(`MISSED ${missed.length} goal(s):\n  ${missed.join('\n  ')}`);
  process.exitCode = 1;
}
