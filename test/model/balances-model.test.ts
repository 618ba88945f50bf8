import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import {
  type Cmd,
  type ModelWorld,
  type RecordCmd,
  runSequence,
  type Sequence,
  sequenceArb,
} from './balances-model.ts';

const fixture = useSimulator();
const world: ModelWorld = {
  get sim() {
    return fixture.sim;
  },
  newTable: () => createTestTable('balances-model'),
};

/** CI: a fixed seed; `BALANCES_MODEL_RUNS` sets how many sequences (bench/ runs many more). */
const RUNS = Number(process.env.BALANCES_MODEL_RUNS ?? 200);
const SEED = Number(process.env.BALANCES_MODEL_SEED ?? 26);

describe('Model: customer balances', () => {
  it(`equals the model after every settled poll, exactly, over ${RUNS} random sequences`, {
    timeout: 1_800_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (seq) => {
        await runSequence(world, seq);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: false },
    );
  });
});

/** Sequences the model found failing (on the code before #26), replayed as they were shrunk. */
describe('Model: customer balances — regressions', () => {
  const replay = (seq: Sequence) => async () => {
    expect(await runSequence(world, seq)).toBeGreaterThan(0);
  };
  /** A type-0 record of `mb` MB for customer `c`, stamped `lag` seconds before now. */
  const credit = (c: 0 | 1, mb: string, lag: number, by: RecordCmd['by'] = 'admin'): RecordCmd => ({
    k: 'record',
    c,
    type: 0,
    mb,
    lag,
    by,
  });
  /** A poll run (two at once with `pair`); `landing` lands before its first records call. */
  const poll = (pair: boolean, landing?: RecordCmd): Cmd =>
    landing ? { k: 'poll', pair, inject: { call: 1, rec: landing } } : { k: 'poll', pair };

  it(
    'hands a late credit on once when two runs read it at the same time (seed 7)',
    { timeout: 60_000 },
    replay({
      pageSize: 1,
      cmds: [poll(false, credit(0, '1024', 0)), credit(1, '1024', 1), poll(true)],
    }),
  );
  it(
    'hands a credit that landed during a run on once when the run had a twin (seed 8)',
    { timeout: 60_000 },
    replay({
      pageSize: 1,
      cmds: [poll(false), poll(true, credit(0, '1024', 0)), { k: 'usage', c: 0, mb: '10' }],
    }),
  );

  it(
    'hands a credit on once when two runs read it after a calibration raced a run (seed 9)',
    { timeout: 60_000 },
    replay({
      pageSize: 1,
      cmds: [
        { k: 'calibrate', c: 0, gb: '20', asOf: false, racing: true },
        credit(0, '1024', 0),
        poll(true),
        { k: 'usage', c: 0, mb: '10' },
      ],
    }),
  );
  it(
    'counts a twin of a credit that landed during a run, and a late credit stamped a second before (seed 10)',
    { timeout: 60_000 },
    replay({
      pageSize: 1,
      cmds: [
        poll(false, credit(0, '1024', 0)),
        credit(0, '1024', 0),
        credit(0, '1024', 1),
        { k: 'advance', s: 0 },
      ],
    }),
  );

  it(
    'counts a late credit and a twin after a calibration of another customer raced a run (seed 11)',
    { timeout: 60_000 },
    replay({
      pageSize: 1,
      cmds: [
        credit(1, '1024', 0),
        { k: 'calibrate', c: 0, gb: '20', asOf: false, racing: true },
        credit(1, '1024', 1),
        credit(1, '1024', 0),
      ],
    }),
  );
  it(
    'counts a 0.01 MB credit stamped in the second of one already counted and sorting before it (seed 12)',
    { timeout: 60_000 },
    replay({
      pageSize: 1,
      cmds: [
        poll(false, credit(1, '1024', 0, 'flowpilot-agent')),
        credit(1, '333.33', 0),
        credit(1, '0.01', 0, 'flowpilot-agent'),
      ],
    }),
  );

  // Adversarial review F2: a run after 00:10 moved the records cursor to the new day.
  it(
    'counts a credit stamped at 23:55 and listed 20 minutes late, after a run past midnight (review F2)',
    { timeout: 60_000 },
    replay({
      pageSize: 1000,
      cmds: [
        poll(false),
        { k: 'advance', s: 1500 },
        poll(false),
        credit(0, '5120', 1200, 'flowpilot-agent'),
        poll(false),
      ],
    }),
  );
  it(
    'counts a credit listed a full day late, after runs on both days (review F2)',
    { timeout: 60_000 },
    replay({
      pageSize: 2,
      cmds: [
        poll(false),
        { k: 'advance', s: 1500 },
        credit(1, '1024', 0),
        poll(false),
        { k: 'advance', s: 86_100 },
        poll(false),
        credit(0, '5120', 86_400, 'flowpilot-agent'),
        poll(false),
      ],
    }),
  );
});
