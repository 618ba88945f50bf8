/** `npm run bench`: every benchmark in turn, each printing its own figures. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BENCHES = ['bundle-size.ts', 'poll-usage.ts', 'webhook.ts', 'alerts-hover.ts'];
let failed = 0;
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
  if (run.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
