import { describe, expect, it } from 'vitest';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { POLL_TOTALS, pollTotals } from '../../functions/commons/pollers/totals.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import { countWrites } from './store-fixtures.ts';

const fixture = useSimulator();
const now = new Date('2026-03-10T04:00:00.000Z');

async function setup() {
  const { doc, tableName } = await createTestTable('totals');
  const writes = countWrites(doc);
  const snapshots = new SnapshotStore(doc, tableName);
  const pollState = new PollStateStore(doc, tableName);
  const deps = {
    upstream: fixture.client(),
    snapshots,
    pollState,
    clock: () => now,
    pollId: 'req-1',
  };
  return { deps, snapshots, pollState, writes };
}

describe('Function: pollTotals', () => {
  it('writes one snapshot per pool, exact, and records a success', async () => {
    // Prepare
    const { deps, snapshots } = await setup();
    fixture.sim.setPool('primary', { rechargedMb: '5242880', consumedMb: '1024.5' });
    fixture.sim.setPool('secondary', { rechargedMb: '100', residualMb: '99.99' });

    // Act
    const { outcome, health } = await pollTotals(deps);

    // Assess
    expect(outcome).toMatchObject({ ok: true, at: now.toISOString(), pollId: 'req-1' });
    const latest = await snapshots.latestAll();
    expect(latest.primary?.consumedMb.toFixed()).toBe('1024.5');
    expect(latest.secondary?.residualMb.toFixed()).toBe('99.99');
    expect(latest.primary).toMatchObject({ at: now.toISOString(), pollId: 'req-1' });
    expect(health).toMatchObject({ consecutiveFailures: 0, lastSuccessAt: now.toISOString() });
  });

  it('writes no snapshot when the upstream rejects the token, and counts the failure', async () => {
    // Prepare
    const { deps, snapshots, writes } = await setup();
    fixture.sim.addFault({ kind: 'auth', endpoint: 'getFlowTotalFull' });

    // Act
    await pollTotals(deps);
    const { outcome, health } = await pollTotals(deps);

    // Assess
    expect(outcome).toMatchObject({ ok: false, reason: 'auth' });
    expect(await snapshots.latestAll()).toEqual({});
    expect(writes.batchWrites).toBe(0);
    expect(health).toMatchObject({ consecutiveFailures: 2, lastError: { kind: 'auth' } });
    expect(health.lastSuccessAt).toBeUndefined();
  });

  it('reports a transport failure without a snapshot', async () => {
    // Prepare
    const { deps, snapshots, pollState } = await setup();
    fixture.sim.addFault({ kind: 'status', status: 502, endpoint: 'getFlowTotalFull' });

    // Act
    const { outcome } = await pollTotals(deps);

    // Assess
    expect(outcome).toMatchObject({ ok: false, reason: 'transport' });
    expect(await snapshots.latest('primary')).toBeUndefined();
    expect((await pollState.health(POLL_TOTALS)).consecutiveFailures).toBe(1);
  });
});
