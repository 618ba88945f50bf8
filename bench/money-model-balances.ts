/**
 * The "Balances" model (test/model/balances-model.ts) over many random sequences, with a
 * random seed, against DynamoDB Local and the simulator. Prints the seed, the sequences and
 * events run and the wall time; on a failure, the shrunk sequence as JSON, ready to become a
 * named regression test in test/model/balances-model.test.ts.
 *
 *   npx tsx bench/money-model-balances.ts [sequences=10000] [seed=random]
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { documentClient } from '../functions/commons/clients/dynamodb.ts';
import { ensureTable } from '../functions/commons/store/table.ts';
import { startSimulator } from '../local/simulator/index.ts';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { type ModelWorld, runSequence, sequenceArb } from '../test/model/balances-model.ts';

const RUNS = Number(process.argv[2] ?? 10_000);
const SEED = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));

async function main() {
  const ddb = await startDynamoDbLocal();
  const sim = await startSimulator({ options: { numberStyle: 'number' } });
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
  const doc = documentClient(client);
  let previous: string | undefined;
  const world: ModelWorld = {
    sim,
    newTable: async () => {
      // One table at a time: DynamoDB Local slows down as its tables pile up.
      if (previous) await client.send(new DeleteTableCommand({ TableName: previous }));
      const tableName = `model-${randomUUID().slice(0, 8)}`;
      previous = tableName;
      await ensureTable(client, tableName);
      return { doc, tableName };
    },
  };
  let sequences = 0;
  let failedOnce = false;
  let events = 0;
  const t0 = performance.now();
  try {
    console.log(`balances model: ${RUNS} sequences, seed ${SEED}`);
    const out = await fc.check(
      fc.asyncProperty(sequenceArb, async (seq) => {
        try {
          events += await runSequence(world, seq);
        } catch (err) {
          // Shrinking takes a while: say at once what failed first.
          if (!failedOnce)
            console.log(`  first failure, sequence ${sequences + 1}: ${String(err)}`);
          failedOnce = true;
          throw err;
        }
        sequences++;
        if (sequences % 100 === 0) {
          console.log(`  ${sequences} sequences, ${events} events, ${fmt(performance.now() - t0)}`);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: false },
    );
    const wall = fmt(performance.now() - t0);
    if (out.failed) {
      console.log(
        `✗ failed after ${out.numRuns} sequences (seed ${out.seed}, path ${out.counterexamplePath})`,
      );
      console.log(`  ${String(out.errorInstance)}`);
      console.log(`  shrunk sequence: ${JSON.stringify(out.counterexample?.[0])}`);
      console.log(`  wall ${wall}`);
      process.exitCode = 1;
    } else {
      console.log(`✓ ${out.numRuns} sequences, ${events} events, wall ${wall} (seed ${SEED})`);
    }
  } finally {
    await sim.close();
    await ddb.stop();
  }
}

function fmt(ms: number) {
  return `${(ms / 1000).toFixed(1)} s`;
}

await main();
