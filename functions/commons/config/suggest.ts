/** Edit distance (insert, delete, replace), ignoring case. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[y.length] ?? Number.POSITIVE_INFINITY;
}

/**
 * The name a typing slip away from `given` (`alert` → `alerts`, `--stat` → `--state`), for
 * "did you mean": at most 2 edits (1 for short names), or one of them a prefix of the other.
 */
export function closest(given: string, names: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const prefix =
      given.length >= 3 && (name.startsWith(given) || given.startsWith(name)) ? 1 : Infinity;
    const d = Math.min(prefix, distance(given, name));
    if (d <= Math.min(2, Math.max(1, Math.floor(name.length / 3))) && (!best || d < best.d)) {
      best = { name, d };
    }
  }
  return best?.name;
}
