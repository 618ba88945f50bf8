import { describe, expect, it } from 'vitest';
import { calibrate } from '../../functions/commons/customers/calibrate.ts';
import {
  POLL_CUSTOMERS,
  type PollCustomersDeps,
  pollCustomers,
} from '../../functions/commons/customers/poll.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import { CustomerRecordStore } from '../../functions/commons/customers/store/customer-records.ts';
import type { BalanceChange, BalanceListener } from '../../functions/commons/customers/types.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { type PollUsageDeps, pollUsage } from '../../functions/commons/pollers/usage.ts';
import type { LedgerCredit } from '../../functions/commons/reconcile/match.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';

const fixture = useSimulator();
const ZONE = 'Asia/Shanghai';

/** Seeded so a failure replays the same month. */
function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Records every batch the poll hands over. */
class RecordingListener implements BalanceListener {
  readonly name = 'recording';
  readonly batches: BalanceChange[][] = [];
  async onBalances(changes: readonly BalanceChange[]): Promise<void> {
    this.batches.push([...changes]);
  }
}

async function setup(start: Date, opts: { credits?: LedgerCredit[] } = {}) {
  const table = await createTestTable('customers');
  const batch = { baseDelayMs: 1 };
  let now = start;
  const clock = () => now;
  fixture.sim.setNow(now);
  const usage = new UsageStore(table.doc, table.tableName, { batch });
  const pollState = new PollStateStore(table.doc, table.tableName);
  const balances = new CustomerBalanceStore(table.doc, table.tableName);
  const records = new CustomerRecordStore(table.doc, table.tableName, batch);
  const listener = new RecordingListener();
  const upstream = fixture.client({ timeoutMs: 10_000 });
  const usageDeps: PollUsageDeps = {
    upstream,
    usage,
    series: new SeriesStore(table.doc, table.tableName, { batch }),
    pollState,
    polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
    timeZone: ZONE,
    clock,
  };
  const customerDeps: PollCustomersDeps = {
    upstream,
    usage,
    balances,
    records,
    pollState,
    listeners: [
      {
        name: 'broken',
        onBalances: async () => {
          throw new Error('SES is down');
        },
      },
      listener,
    ],
    ...(opts.credits && {
      credits: { listCredited: async () => opts.credits ?? [] },
    }),
    config: {
      usageCounts: 'upload+download',
      recordsPageSize: 1000,
      usageDaysPerStep: 7,
      timeZone: ZONE,
      retentionDays: 400,
      safetyMarginMs: 1000,
      toleranceMinutes: 15,
    },
    clock,
  };
  const t0Ready = { value: false };
  const poll = async () => {
    const u = await pollUsage(usageDeps);
    expect(u.outcome.ok).toBe(true);
    const c = await pollCustomers(customerDeps);
    expect(c.outcome).toMatchObject({ ok: true, complete: true });
    // Every run after the backfill hands the broken listener its changes, and it says so.
    if (c.outcome.changes || t0Ready.value) {
      expect(c.outcome.listenerFailures).toEqual([
        { name: 'broken', message: 'Error: SES is down' },
      ]);
    }
    t0Ready.value = true;
    return c.outcome;
  };
  const calibrateDeps = {
    balances,
    records,
    usage,
    pollState,
    timeZone: ZONE,
    usageCounts: 'upload+download' as const,
    clock,
  };
  return {
    table,
    balances,
    pollState,
    listener,
    upstream,
    usageDeps,
    customerDeps,
    poll,
    calibrateDeps,
    setNow(at: Date) {
      now = at;
      fixture.sim.setNow(at);
    },
  };
}

async function flowPilotBalance(balances: CustomerBalanceStore, id: string): Promise<string> {
  const stored = await balances.get(id);
  if (!stored) throw new Error(`no balance for ${id}`);
  const { balanceMb } = await import('../../functions/commons/customers/balance.ts');
  return balanceMb(stored.state).toFixed();
}

describe('Function: pollCustomers', () => {
  it("keeps every customer's balance equal to the vendor's over a month of usage, top-ups by webhook and by hand, and deductions", {
    timeout: 180_000,
  }, async () => {
    // Prepare: 88 starts with 10 GB (set in FlowPilot by calibration), 89 and 90 at zero.
    const start = new Date('2026-11-01T02:00:00.000Z'); // 10:00 in Shanghai
    const t = await setup(start);
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com', balanceMb: 10240 });
    fixture.sim.addCustomer({ customerId: '89', account: 'bob@example.com' });
    fixture.sim.addCustomer({ customerId: '90', account: 'carol@example.com' });
    fixture.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    const calibrated = await calibrate(t.calibrateDeps, {
      customerId: '088',
      gb: new Decimal('10'),
      asOf: '2026-10-31',
    });
    expect(calibrated.figures.balanceMb).toBe('10240');
    const random = seeded(16);
    const amount = (max: number) => new Decimal(random() * max).toDecimalPlaces(2);

    // Act: 30 days, three moments a day; after each, both polls run as scheduled.
    let orders = 0;
    for (let day = 0; day < 30; day++) {
      for (const hour of [2, 8, 15]) {
        t.setNow(new Date(start.getTime() + day * 86_400_000 + (hour - 2) * 3_600_000));
        for (const id of ['88', '89', '90']) {
          fixture.sim.useTraffic({
            customerId: id,
            uploadMb: amount(30),
            downloadMb: amount({ '88': 60, '89': 400, '90': 50 }[id] ?? 0),
          });
        }
        const roll = random();
        if (roll < 0.15) {
          await t.upstream.rechargeTrafficCount({
            customerId: '89',
            orderId: `order-${++orders}`,
            trafficGb: new Decimal('2.5'),
          });
        } else if (roll < 0.25) {
          fixture.sim.consoleTopUp({ customerId: '90', mb: '1536.5' });
        } else if (roll < 0.3) {
          await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('0.5') });
        }
        await t.poll();
      }
      // Assess, every evening: FlowPilot's balance is the vendor's, to the last hundredth MB.
      for (const id of ['88', '89', '90']) {
        expect(await flowPilotBalance(t.balances, id), `customer ${id} on day ${day}`).toBe(
          new Decimal(fixture.sim.getCustomer(id)?.balanceMb ?? 'NaN').toFixed(),
        );
      }
    }
    const kinds = fixture.sim.listRecords().map((r) => `${r.type}:${r.createBy}`);
    expect(kinds).toContain('0:admin');
    expect(kinds).toContain('0:flowpilot-agent');
    expect(kinds).toContain('1:flowpilot-agent');
    // A month in, the oldest days are folded: the stored item does not grow with history.
    const stored = await t.balances.get('88');
    expect(stored?.state.recent.size).toBeLessThanOrEqual(9);
    expect(stored?.state.settledThrough).toBeDefined();
  });

  it('hands the listeners one change per customer touched, with the credits that landed, and nothing for the backfill', {
    timeout: 60_000,
  }, async () => {
    // Prepare: history before FlowPilot looks, including an old top-up.
    const start = new Date('2026-11-10T02:00:00.000Z');
    const ledgerCredit: LedgerCredit = {
      orderKey: 'stripe:pi_123',
      customerId: '89',
      gb: new Decimal('1'),
      creditedAt: new Date('2026-11-11T04:00:00.000Z'),
    };
    const t = await setup(start, { credits: [ledgerCredit] });
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com' });
    fixture.sim.addCustomer({ customerId: '89', account: 'bob@example.com' });
    fixture.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '5120' });
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '100' });

    // Act 1: the first complete run is the backfill.
    await t.poll();
    expect(t.listener.batches).toEqual([]);

    // Act 2: nothing moved.
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    await t.poll();
    expect(t.listener.batches).toEqual([[]]);

    // Act 3: a day later, 88 used traffic and bought 2 GB by hand; 89 was credited by FlowPilot.
    t.setNow(new Date('2026-11-11T04:00:00.000Z'));
    fixture.sim.useTraffic({ customerId: '88', uploadMb: '10', downloadMb: '90' });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '2048' });
    await t.upstream.rechargeTrafficCount({
      customerId: '89',
      orderId: 'stripe:pi_123',
      trafficGb: new Decimal('1'),
    });
    await t.poll();

    // Assess
    const [batch] = t.listener.batches.slice(-1);
    const byId = new Map((batch ?? []).map((c) => [c.after.customerId, c]));
    expect([...byId.keys()].sort()).toEqual(['88', '89']);
    const alice = byId.get('88');
    expect(alice?.before?.balanceMb).toBe('5020');
    expect(alice?.after).toMatchObject({
      customerId: '88',
      account: 'alice@example.com',
      balanceMb: '6968',
      burn1dMb: '100',
      lastCreditMb: '2048',
      lastCreditAt: '2026-11-11T04:00:00.000Z',
      asOf: '2026-11-11T04:00:00.000Z',
    });
    expect(alice?.credits).toEqual([{ mb: '2048', at: '2026-11-11T04:00:00.000Z' }]);
    const bob = byId.get('89');
    expect(bob?.before).toBeUndefined();
    expect(bob?.after.balanceMb).toBe('1024');
    expect(bob?.credits).toEqual([
      { mb: '1024', at: '2026-11-11T04:00:00.000Z', orderId: 'stripe:pi_123' },
    ]);

    // A listener that throws does not keep the others from their changes.
    expect(t.listener.batches).toHaveLength(2);

    // Act 4: the same state read again is no news, and counts nothing twice.
    t.setNow(new Date('2026-11-11T04:15:00.000Z'));
    await t.poll();
    expect(t.listener.batches.slice(-1)).toEqual([[]]);
    expect(await flowPilotBalance(t.balances, '88')).toBe('6968');
  });

  it('counts a top-up once when a run fails between storing its record and writing the balance', {
    timeout: 60_000,
  }, async () => {
    // Prepare: backfill done, then a top-up by hand.
    const t = await setup(new Date('2026-11-10T02:00:00.000Z'));
    fixture.sim.addCustomer({ customerId: '88' });
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '100' });
    await t.poll();
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    fixture.sim.consoleTopUp({ customerId: '88', mb: '4096' });
    const failing: PollCustomersDeps['balances'] = {
      getMany: (ids) => t.balances.getMany(ids),
      write: async () => {
        throw new Error('DynamoDB went away');
      },
    };

    // Act: the record is stored, the balance write fails; the next runs repeat the work.
    await expect(pollCustomers({ ...t.customerDeps, balances: failing })).rejects.toThrow(
      'DynamoDB went away',
    );
    await t.poll();
    t.setNow(new Date('2026-11-10T03:15:00.000Z'));
    await t.poll();

    // Assess
    expect(await flowPilotBalance(t.balances, '88')).toBe('3996');
    expect(fixture.sim.getCustomer('88')?.balanceMb).toBe('3996');
  });

  it('waits for poll-usage, and resumes a backfill cut short by the deadline', {
    timeout: 60_000,
  }, async () => {
    const start = new Date('2026-11-10T02:00:00.000Z');
    const t = await setup(start);
    fixture.sim.addCustomer({ customerId: '88', balanceMb: 0 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '1000' });

    const early = await pollCustomers(t.customerDeps);
    expect(early.outcome).toMatchObject({
      ok: true,
      complete: false,
      stopReason: 'usage-not-ready',
    });
    expect(await flowPilotBalance(t.balances, '88')).toBe('1000');

    // The deadline allows one store step at a time.
    let budget = 0;
    const cut = { ...t.customerDeps, remainingMs: () => (budget-- > 0 ? 60_000 : 0) };
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '250.5' });
    const u = await pollUsage({
      upstream: t.upstream,
      usage: t.customerDeps.usage as UsageStore,
      series: new SeriesStore(t.table.doc, t.table.tableName),
      pollState: t.pollState,
      polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
      timeZone: ZONE,
      clock: () => start,
    });
    expect(u.outcome.ok).toBe(true);
    const runs = [];
    for (let i = 0; i < 200; i++) {
      budget = 6;
      const r = await pollCustomers(cut);
      runs.push(r.outcome);
      if (r.outcome.complete) break;
    }
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.slice(0, -1).every((o) => !o.complete && o.ok && o.stopReason === 'time')).toBe(
      true,
    );
    expect(await t.pollState.cursor(POLL_CUSTOMERS)).toBe('2026-11-09');
    expect(await flowPilotBalance(t.balances, '88')).toBe('749.5');
  });
});

describe('Function: pollCustomers — records that sort before the newest counted', () => {
  /** Backfill done: 88 holds 10 GB and used some; a later run reads from the top-up's day. */
  async function funded() {
    const t = await setup(new Date('2026-11-10T02:00:00.000Z'));
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com', balanceMb: 0 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '10240' });
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '100' });
    await t.poll();
    return t;
  }
  const upstreamBalance = (id: string) =>
    new Decimal(fixture.sim.getCustomer(id)?.balanceMb ?? 'NaN').toFixed();

  it('counts a credit stamped in the same second as a deduction already counted', {
    timeout: 60_000,
  }, async () => {
    // Prepare: a deduction at 11:00:00 is counted; then a 5 GB credit in that same second.
    const t = await funded();
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('1') });
    await t.poll();
    fixture.sim.consoleTopUp({ customerId: '88', mb: '5120' });
    t.setNow(new Date('2026-11-10T03:01:00.000Z'));
    fixture.sim.consoleTopUp({ customerId: '88', mb: '1024' });

    // Act
    await t.poll();

    // Assess: 10240 − 100 − 1024 + 5120 + 1024
    expect(upstreamBalance('88')).toBe('15260');
    expect(await flowPilotBalance(t.balances, '88')).toBe('15260');
  });

  it('counts a credit written between the type-0 and the type-1 reads', {
    timeout: 60_000,
  }, async () => {
    // Prepare: while the run reads, a credit and then a deduction land in the same second.
    const t = await funded();
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    let injected = false;
    const upstream: PollCustomersDeps['upstream'] = {
      myRechargeFlowList: async (query, opts) => {
        if (query.type === 1 && !injected) {
          injected = true;
          fixture.sim.consoleTopUp({ customerId: '88', mb: '5120' });
          await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('1') });
        }
        return t.upstream.myRechargeFlowList(query, opts);
      },
    };
    const racing = await pollCustomers({ ...t.customerDeps, upstream });
    expect(racing.outcome.complete).toBe(true);
    t.setNow(new Date('2026-11-10T03:01:00.000Z'));
    fixture.sim.consoleTopUp({ customerId: '88', mb: '1024' });

    // Act
    await t.poll();

    // Assess
    expect(injected).toBe(true);
    expect(upstreamBalance('88')).toBe('15260');
    expect(await flowPilotBalance(t.balances, '88')).toBe('15260');
  });
});

describe('Function: pollCustomers — records moving while a run pages', () => {
  it('hands a credit on once when the deductions moved under the run that read it', {
    timeout: 60_000,
  }, async () => {
    // Prepare: backfill done, two deductions on record (two pages of one), then a top-up.
    const t = await setup(new Date('2026-11-10T02:00:00.000Z'));
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com', balanceMb: 0 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '10240' });
    await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('1') });
    await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('1') });
    await t.poll();
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    fixture.sim.consoleTopUp({ customerId: '88', mb: '5120' });
    // A deduction lands while the run reads the first page of deductions.
    let moved = false;
    const upstream: PollCustomersDeps['upstream'] = {
      myRechargeFlowList: async (query, opts) => {
        const page = await t.upstream.myRechargeFlowList(query, opts);
        if (query.type === 1 && !moved) {
          moved = true;
          await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('1') });
        }
        return page;
      },
    };
    const paged = {
      ...t.customerDeps,
      upstream,
      config: { ...t.customerDeps.config, recordsPageSize: 1 },
    };

    // Act: that run, then one over records that stay put.
    await pollCustomers(paged);
    t.setNow(new Date('2026-11-10T03:15:00.000Z'));
    await t.poll();

    // Assess: one receipt for the 5 GB, and the balance whole.
    expect(moved).toBe(true);
    const credits = t.listener.batches.flat().flatMap((c) => c.credits);
    expect(credits).toEqual([{ mb: '5120', at: '2026-11-10T03:00:00.000Z' }]);
    expect(await flowPilotBalance(t.balances, '88')).toBe('12288');
  });
});

describe('Function: calibrate — racing a poll', () => {
  /** 88 holds 10 GB from the 8th; the runs of the 10th read from the 10th on. */
  async function settled() {
    const t = await setup(new Date('2026-11-08T02:00:00.000Z'));
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com', balanceMb: 0 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '10240' });
    await t.poll();
    t.setNow(new Date('2026-11-10T02:00:00.000Z'));
    await t.poll();
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '100' });
    return t;
  }

  it('keeps the opening when a poll that read the balance before it writes after it', {
    timeout: 60_000,
  }, async () => {
    // Prepare: the operator calibrates 88 to 20 GB between the poll's read and its write.
    const t = await settled();
    let calibrated = false;
    class Racing extends CustomerBalanceStore {
      override async getMany(ids: readonly string[]) {
        const read = await super.getMany(ids);
        if (!calibrated && ids.includes('88')) {
          calibrated = true;
          await calibrate(t.calibrateDeps, { customerId: '88', gb: new Decimal('20') });
        }
        return read;
      }
    }
    const balances = new Racing(t.table.doc, t.table.tableName);

    // Act
    await pollUsage({
      upstream: t.upstream,
      usage: t.customerDeps.usage as UsageStore,
      series: new SeriesStore(t.table.doc, t.table.tableName),
      pollState: t.pollState,
      polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
      timeZone: ZONE,
      clock: () => new Date('2026-11-10T03:00:00.000Z'),
    });
    const run = await pollCustomers({ ...t.customerDeps, balances });

    // Assess: the 100 MB were used before the calibration, which already holds them.
    expect(calibrated).toBe(true);
    expect(run.outcome.complete).toBe(true);
    expect((await t.balances.get('88'))?.state.opening?.mb.toFixed()).toBe('20480');
    expect(await flowPilotBalance(t.balances, '88')).toBe('20480');
  });

  it("keeps a poll's new credit when the calibration read the records before the poll wrote", {
    timeout: 60_000,
  }, async () => {
    // Prepare: a 5 GB credit in the calibration's second; a poll stores and counts it while
    // the calibration is between its reads and its write.
    const t = await settled();
    await t.poll();
    fixture.sim.consoleTopUp({ customerId: '88', mb: '5120' });
    let polled = false;
    const records = new CustomerRecordStore(t.table.doc, t.table.tableName);
    const racing = {
      ...t.calibrateDeps,
      records: {
        byCustomer: async (id: string) => {
          const read = await records.byCustomer(id);
          if (!polled) {
            polled = true;
            await t.poll();
          }
          return read;
        },
      },
    };
    expect(await flowPilotBalance(t.balances, '88')).toBe('10140');

    // Act
    const out = await calibrate(racing, { customerId: '88', gb: new Decimal('20') });

    // Assess: the opening, and the credit stamped in its second.
    expect(polled).toBe(true);
    expect(out.figures.balanceMb).toBe('25600');
    expect(await flowPilotBalance(t.balances, '88')).toBe('25600');
  });
});

describe('Function: pollCustomers — one receipt per payment', () => {
  it('names each new credit by its own order when an earlier order of the same amount is in the window', {
    timeout: 60_000,
  }, async () => {
    // Prepare: two 25 GB Checkouts five seconds apart, each polled after it landed.
    const ledger: LedgerCredit[] = [];
    const t = await setup(new Date('2026-11-10T02:00:00.000Z'), { credits: ledger });
    fixture.sim.addCustomer({ customerId: '89', account: 'bob@example.com' });
    fixture.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    await t.poll();
    const pay = async (orderId: string, at: string) => {
      t.setNow(new Date(at));
      await t.upstream.rechargeTrafficCount({
        customerId: '89',
        orderId,
        trafficGb: new Decimal('25'),
      });
      ledger.push({
        orderKey: orderId,
        customerId: '89',
        gb: new Decimal('25'),
        creditedAt: new Date(Date.parse(at) + 400),
      });
      await t.poll();
      return t.listener.batches.at(-1)?.flatMap((c) => c.credits.map((x) => x.orderId));
    };

    // Act
    const first = await pay('stripe:pi_A', '2026-11-10T03:00:00.000Z');
    const second = await pay('stripe:pi_B', '2026-11-10T03:00:05.000Z');
    const third = await pay('stripe:pi_C', '2026-11-10T03:00:09.000Z');

    // Assess
    expect([first, second, third]).toEqual([['stripe:pi_A'], ['stripe:pi_B'], ['stripe:pi_C']]);
  });
});

describe('pollCustomers: writes only what moved', () => {
  /** The balances store, with the customers each read asked for. */
  class CountingBalances extends CustomerBalanceStore {
    readonly asked: string[][] = [];
    override async getMany(ids: readonly string[], options?: { consistent?: boolean }) {
      this.asked.push([...ids]);
      return super.getMany(ids, options);
    }
  }

  class CountingPollState extends PollStateStore {
    readonly written: string[] = [];
    override async advanceCursor(poller: string, day: string, at: Date) {
      this.written.push(poller);
      return super.advanceCursor(poller, day, at);
    }
  }

  it('writes a balance whose figures moved, and does not read the others again (nor rewrite a cursor) until poll-usage brings new figures; a top-up in between is counted at once', {
    timeout: 90_000,
  }, async () => {
    // Prepare: three customers with traffic, balances settled; 90 has no record upstream
    // (the others' top-ups stay in the records window, so every run reads their balances).
    const t = await setup(new Date('2026-11-08T02:00:00.000Z'));
    fixture.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    for (const id of ['88', '89']) {
      fixture.sim.addCustomer({ customerId: id, account: `${id}@example.com`, balanceMb: 0 });
      fixture.sim.consoleTopUp({ customerId: id, mb: '10240' });
      fixture.sim.useTraffic({ customerId: id, downloadMb: '100' });
    }
    fixture.sim.addCustomer({ customerId: '90', account: '90@example.com', balanceMb: 0 });
    fixture.sim.useTraffic({ customerId: '90', downloadMb: '10' });
    await t.poll();
    t.setNow(new Date('2026-11-08T03:00:00.000Z'));
    await t.poll();
    const balances = new CountingBalances(t.table.doc, t.table.tableName);
    const pollState = new CountingPollState(t.table.doc, t.table.tableName);
    const deps = { ...t.customerDeps, balances, pollState };
    const version = async (id: string) => (await t.balances.get(id))?.version;
    const [v88, v89] = [await version('88'), await version('89')];

    // Act 1: 88 uses traffic; poll-usage reads it, then poll-customers runs.
    t.setNow(new Date('2026-11-08T04:00:00.000Z'));
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '50' });
    expect((await pollUsage(t.usageDeps)).outcome.ok).toBe(true);
    const moved = (await pollCustomers(deps)).outcome;

    // Assess 1: 88's balance is written, 89's (nothing moved) is not.
    expect(moved.customers.written).toBeGreaterThanOrEqual(1);
    expect(await version('88')).toBe((v88 ?? 0) + 1);
    expect(await version('89')).toBe(v89);
    expect(await flowPilotBalance(t.balances, '88')).toBe(fixture.sim.getCustomer('88')?.balanceMb);

    // Act 2: 15 minutes later, poll-usage has not run since: nothing is written, and only
    // the customers with records in the window are read.
    balances.asked.length = 0;
    pollState.written.length = 0;
    t.setNow(new Date('2026-11-08T04:15:00.000Z'));
    const quiet = (await pollCustomers(deps)).outcome;

    // Assess 2: no cursor is rewritten either (none moved).
    expect(quiet).toMatchObject({ ok: true, complete: true, changes: 0 });
    expect(quiet.customers.written).toBe(0);
    expect(pollState.written).toEqual([]);
    expect(quiet.usage.unchanged).toBe(quiet.usage.days);
    expect(balances.asked.flat().sort()).toEqual(['88', '89']);

    // Act 3: a top-up for 89 lands, still no poll-usage run.
    t.setNow(new Date('2026-11-08T04:30:00.000Z'));
    fixture.sim.consoleTopUp({ customerId: '89', mb: '1024' });
    const topUp = (await pollCustomers(deps)).outcome;

    // Assess 3: 89 alone is written, with its usage, equal to the vendor's balance.
    expect(topUp.customers.written).toBe(1);
    expect(balances.asked.flat()).not.toContain('90');
    expect(await version('89')).toBe((v89 ?? 0) + 1);
    expect(await version('88')).toBe((v88 ?? 0) + 1);
    expect(await flowPilotBalance(t.balances, '89')).toBe(fixture.sim.getCustomer('89')?.balanceMb);
  });
});
