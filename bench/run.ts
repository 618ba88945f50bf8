/**
 * `npm run bench`: every benchmark in turn, each printing its own figures and marking any
 * that misses its goal (bench/goal.ts); exits non-zero when one missed a goal or failed.
 * `npm run bench -- cost --fast`: only the named ones (file names without `.ts`), with the
 * flags passed on.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BENCHES = [
  'bundle-size.ts',
  'cold-start.ts',
  'poll-usage.ts',
  'customer-balances.ts',
  'webhook.ts',
  'customer-notices.ts',
  'alerts-hover.ts',
  'autotopup.ts',
  'cost.ts',
  'burst.ts',
  'portal-view.ts',
];
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const unknown = names.filter((n) => !BENCHES.includes(`${n}.ts`));
if (unknown.length) {
  process.stderr.write(
    `bench: no bench named ${unknown.join(', ')}; there are ${BENCHES.map((b) => b.replace(/\.ts$/, '')).join(', ')}\n`,
  );
  process.exit(2);
}
const chosen = names.length
  ? BENCHES.filter((b) => names.includes(b.replace(/\.ts$/, '')))
  : BENCHES;
const failed: string[] = [];
for (const file of chosen) {
  process.stdout.write(`\n=== bench/${file} ===\n`);
  const run = spawnSync('npx', ['tsx', resolve(import.meta.dirname, file), ...flags], {
    stdio: 'inherit',
    // The Lambdas run Node 22, so the SDK's warning about this Node is noise here; EMF lines
    // on stdout would bury the figures.
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  });
  if (run.status !== 0) failed.push(file);
}
if (failed.length) {
  process.stdout.write(
    `\nbench: ${failed.length} of ${chosen.length} missed a goal or failed: ${failed.join(', ')} (marked ✗ above)\n`,
  );
}
process.exit(failed.length ? 1 : 0);
