/**
 * The auto top-up model (#26 B, test/model/autotopup-model.ts) over many random sequences:
 * DynamoDB Local, the upstream simulator and the Stripe stand-in, as the CI test runs it
 * with a fixed seed. Prints the seed, the sequences and events run and the wall time; on a
 * failure the seed, the fast-check path and the shrunk sequence, to turn into a named
 * regression test. Run: npx tsx bench/money-model-autotopup.ts [runs] [seed]
 * (default 10,000 runs, a random seed); DYNAMODB_ENDPOINT uses a DynamoDB Local already up.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const RUNS = Number(process.argv[2] ?? 10_000);
const SEED = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));

const { createDynamicTrafficClient } = await import('../functions/commons/upstream/client.ts');
const { startSimulator } = await import('../local/simulator/index.ts');
const { runSequence, sequenceArb, startModelWorld } = await import(
  '../test/model/autotopup-model.ts'
);

const given = process.env.DYNAMODB_ENDPOINT;
const ddb = given ? { endpoint: given, stop: async () => undefined } : await startDynamoDbLocal();
const sim = await startSimulator({ options: { numberStyle: 'number' } });
const client = new DynamoDBClient({
  endpoint: ddb.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const upstream = createDynamicTrafficClient({
  baseUrl: sim.url,
  token: sim.token,
  timeoutMs: 2_000,
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
  random: () => 0.5,
});
const world = await startModelWorld(client, sim, upstream);
let sequences = 0;
let events = 0;
const totals = { charges: 0, succeeded: 0, episodes: 0 };
const t0 = performance.now();
process.stdout.write(`auto top-up model: ${RUNS} sequences, seed ${SEED}\n`);
try {
  const result = await fc.check(
    fc.asyncProperty(sequenceArb, async (seq) => {
      const stats = await runSequence(world, seq);
      events += stats.events;
      totals.charges += stats.charges;
      totals.succeeded += stats.succeeded;
      totals.episodes += stats.episodes;
      sequences += 1;
      if (sequences % 500 === 0) {
        const s = (performance.now() - t0) / 1000;
        process.stdout.write(`  ${sequences} sequences, ${events} events, ${s.toFixed(0)} s\n`);
      }
    }),
    { numRuns: RUNS, seed: SEED },
  );
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${sequences} sequences (shrinking included), ${events} events in ${s.toFixed(0)} s; ` +
      `${(events / s).toFixed(0)} events/s; ${totals.episodes} episodes, ` +
      `${totals.charges} PaymentIntents, ${totals.succeeded} succeeded\n`,
  );
  if (result.failed) {
    process.stdout.write(
      `FAILED: seed ${result.seed}, path ${result.counterexamplePath}\n` +
        `shrunk sequence:\n${JSON.stringify(result.counterexample?.[0], null, 2)}\n` +
        `${result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance)}\n`,
    );
    process.exitCode = 1;
  }
} finally {
  await world.close();
  await sim.close();
  client.destroy();
  await ddb.stop();
}
