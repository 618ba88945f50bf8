import { fc } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { logger } from '../../functions/commons/logger.ts';
import { localDynamoClient } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import { type ModelWorld, runSequence, sequenceArb, startModelWorld } from './autotopup-model.ts';

/**
 * #26 B, auto top-up: the model (autotopup-model.ts) over random sequences with a fixed seed.
 * AUTOTOPUP_MODEL_RUNS sets how many (CI: 200); bench/money-model-autotopup.ts runs 10,000+
 * with a random seed.
 */
const RUNS = Number(process.env.AUTOTOPUP_MODEL_RUNS ?? 200);
const SEED = Number(process.env.AUTOTOPUP_MODEL_SEED ?? 26);
const fx = useSimulator();

describe('auto top-up model (engine, webhook, DynamoDB Local, simulator, Stripe stand-in)', () => {
  let world: ModelWorld;
  beforeAll(async () => {
    // A killed run is logged as a failed customer; the model expects hundreds of them.
    logger.setLogLevel('SILENT');
    world = await startModelWorld(localDynamoClient(), fx.sim, fx.client());
  });
  afterAll(async () => {
    logger.setLogLevel('INFO');
    await world.close();
  });

  it(`holds the invariants over ${RUNS} random sequences (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (seq) => {
        await runSequence(world, seq);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 1_800_000);
});
