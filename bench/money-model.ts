/**
 * The payments model (issue #26 B) at length: 10,000 random Stripe histories (MODEL_RUNS) with
 * a random seed (MODEL_SEED to replay one) against the real webhook handler, DynamoDB Local
 * and the simulator. Prints the figures; on a failure, the seed, the path and the shrunk
 * sequence with its deliveries, and exits 1. Run: npm run bench -- money-model.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { ensureTable } from '../functions/commons/store/table.ts';
import { startSimulator } from '../local/simulator/index.ts';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { type ModelEnv, runScenario, scenarioArb } from '../test/model/payments-model.ts';

const RUNS = Number(process.env.MODEL_RUNS ?? 10_000);
const SEED = Number(process.env.MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31));

const ddb = await startDynamoDbLocal();
const sim = await startSimulator({ options: { numberStyle: 'number' } });
try {
  sim.setPool('primary', { rechargedMb: 1e15, consumedMb: 0, residualMb: 1e15 });
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tableName = 'money-model';
  await ensureTable(client, tableName);
  const env: ModelEnv = { client, tableName, sim };
  let events = 0;
  let deliveries = 0;
  let sequences = 0;
  const started = performance.now();
  process.stdout.write(`money-model: ${RUNS} sequences, seed ${SEED}\n`);
  const out = await fc.check(
    fc.asyncProperty(scenarioArb, async (scenario) => {
      const figures = await runScenario(env, scenario);
      events += figures.events;
      deliveries += figures.deliveries;
      // A long run on a shared machine shows how far it got, should it be stopped.
      sequences += 1;
      if (sequences % 100 === 0) {
        const wall = ((performance.now() - started) / 1000).toFixed(0);
        process.stdout.write(
          `money-model: ${sequences} sequences passed, ${events} events, ${wall} s\n`,
        );
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `money-model: ${out.numRuns} sequences, ${events} provider events, ${deliveries} deliveries ` +
      `(shrinking included), ${seconds.toFixed(1)} s wall\n`,
  );
  if (out.failed) {
    process.stdout.write(
      `✗ FAILED — replay with MODEL_SEED=${SEED} (path ${out.counterexamplePath})\n` +
        `shrunk sequence: ${JSON.stringify(out.counterexample)}\n${String(out.errorInstance)}\n`,
    );
    process.exitCode = 1;
  } else {
    process.stdout.write('✓ every invariant held\n');
  }
} finally {
  await sim.close();
  await ddb.stop();
}
