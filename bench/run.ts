/**
 * `npm run bench`: every benchmark in turn, each printing its own figures and marking any
 * that misses its goal (bench/goal.ts); exits non-zero when one missed a goal or failed.
 * `npm run bench -- cost --fast` (names without `.ts`, flags passed on) runs only those,
 * including the long ones left out of the default run.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BENCHES = [
  'bundle-size.ts',
  'cold-start.ts',
  'poll-usage.ts',
  'customer-balances.ts',
  'webhook.ts',
  'hot-path.perf.ts',
  'customer-notices.ts',
  'alerts-hover.ts',
  'autotopup.ts',
  'portal-view.ts',
  'cost.ts',
  'burst.ts',
];
/** Long runs (minutes to hours): only when named. */
const ON_REQUEST = [
  'money-model.ts',
  'money-model-autotopup.ts',
  'money-model-balances.ts',
  'scale.ts',
];
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('-'));
const named = args.filter((a) => !a.startsWith('-')).map((n) => `${n.replace(/\.ts$/, '')}.ts`);
const unknown = named.filter((f) => !BENCHES.includes(f) && !ON_REQUEST.includes(f));
if (unknown.length) {
  const all = [...BENCHES, ...ON_REQUEST].map((f) => f.replace(/\.ts$/, '')).join(', ');
  process.stderr.write(`bench: no bench named ${unknown.join(', ')}; there are ${all}\n`);
  process.exit(2);
}
const selected = named.length ? named : BENCHES;
const failed: string[] = [];
for (const file of selected) {
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
    `\nbench: ${failed.length} of ${selected.length} missed a goal or failed: ${failed.join(', ')} (marked ✗ above)\n`,
  );
}
process.exit(failed.length ? 1 : 0);
