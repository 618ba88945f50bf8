/**
 * `npm run bench`: every benchmark in turn, each printing its own figures and marking any
 * that misses its goal (bench/goal.ts); exits non-zero when one missed a goal or failed.
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
  'portal-view.ts',
];
const failed: string[] = [];
for (const file of BENCHES) {
  process.stdout.write(`\n=== bench/${file} ===\n`);
  const run = spawnSync('npx', ['tsx', resolve(import.meta.dirname, file)], {
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
    `\nbench: ${failed.length} of ${BENCHES.length} missed a goal or failed: ${failed.join(', ')} (marked ✗ above)\n`,
  );
}
process.exit(failed.length ? 1 : 0);
