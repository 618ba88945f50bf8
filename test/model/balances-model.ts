/**
 * The "Balances" model (#26 B): random sequences of upstream records (same-second stamps,
 * identical twins, late stamps, records landing while a poll pages through them), usage,
 * polls (alone or two at once), and calibrations (alone or racing a poll), run against the
 * real poll-usage, poll-customers and calibrate over DynamoDB Local and the simulator, with
 * small record pages. After every poll that read a settled upstream, and at the end, each
 * customer's stored balance must equal the model's exactly (decimal MB), and no credit is
 * handed to the listeners more often than the upstream holds it.
 *
 * The model is a plain fold over everything that happened: opening + the records stamped
 * after it − the usage after it. It knows nothing of cursors, pages, keys or versions.
 *
 * Used by test/model/balances-model.test.ts (CI, fixed seed) and bench/money-model-balances.ts
 * (many sequences, random seed).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { balanceMb } from '../../functions/commons/customers/balance.ts';
import { calibrate } from '../../functions/commons/customers/calibrate.ts';
import {
  type CustomersPollOutcome,
  type PollCustomersDeps,
  pollCustomers,
} from '../../functions/commons/customers/poll.ts';
import type { BalanceChange } from '../../functions/commons/customers/types.ts';
import { type PollUsageDeps, pollUsage } from '../../functions/commons/pollers/usage.ts';
import { CustomerBalanceStore } from '../../functions/commons/store/customer-balances.ts';
import { CustomerRecordStore } from '../../functions/commons/store/customer-records.ts';
import { PollStateStore } from '../../functions/commons/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/store/series.ts';
import { UsageStore } from '../../functions/commons/store/usage.ts';
import {
  addDays,
  Decimal,
  dayInZone,
  gbToMb,
  parseUpstreamDateTime,
} from '../../functions/commons/units.ts';
import { createDynamicTrafficClient } from '../../functions/commons/upstream/client.ts';
import type { Simulator } from '../../local/simulator/index.ts';
import { wallTime } from '../../local/simulator/state.ts';

const ZONE = 'Asia/Shanghai';
/** 23:50 upstream time: the first advances cross midnight. */
const START = new Date('2026-11-10T15:50:00.000Z');
const CUSTOMERS = ['88', '89'] as const;
/** How far back a record may be stamped when it appears: up to a full day (the records window). */
export const MAX_LAG_SECONDS = 86_400;

export interface RecordCmd {
  k: 'record';
  c: 0 | 1;
  type: 0 | 1;
  mb: string;
  /** Seconds before now the record is stamped (a late record when above 0). */
  lag: number;
  by: 'admin' | 'flowpilot-agent';
}
export type Cmd =
  | { k: 'advance'; s: number }
  | RecordCmd
  | { k: 'usage'; c: 0 | 1; mb: string }
  /** `pair`: two runs at once; `inject`: a record lands before the run's n-th records call. */
  | { k: 'poll'; pair: boolean; inject?: { call: number; rec: RecordCmd } }
  /** `asOf`: as of the end of yesterday, else now; `racing`: a poll runs meanwhile. */
  | { k: 'calibrate'; c: 0 | 1; gb: string; asOf: boolean; racing: boolean };

export interface Sequence {
  /** Records per myRechargeFlowList page. */
  pageSize: number;
  cmds: Cmd[];
}

const recordCmd: fc.Arbitrary<RecordCmd> = fc.record({
  k: fc.constant('record' as const),
  c: fc.constantFrom(0 as const, 1 as const),
  type: fc.constantFrom(0 as const, 1 as const),
  // Few amounts, so identical records in one second happen.
  mb: fc.constantFrom('1024', '5120', '0.01', '333.33'),
  // Mostly on time; late by seconds to minutes, or by hours across midnight.
  lag: fc.oneof(
    fc.constant(0),
    fc.constant(0),
    fc.integer({ min: 1, max: 900 }),
    fc.integer({ min: 901, max: MAX_LAG_SECONDS }),
  ),
  by: fc.constantFrom('admin' as const, 'flowpilot-agent' as const),
});

export const sequenceArb: fc.Arbitrary<Sequence> = fc.record({
  pageSize: fc.integer({ min: 1, max: 3 }),
  cmds: fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          k: fc.constant('advance' as const),
          s: fc.constantFrom(0, 1, 7, 59, 601, 3600, 21_600),
        }),
      },
      { weight: 5, arbitrary: recordCmd },
      {
        weight: 2,
        arbitrary: fc.record({
          k: fc.constant('usage' as const),
          c: fc.constantFrom(0 as const, 1 as const),
          mb: fc.constantFrom('10', '0.25', '777.77'),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record(
          {
            k: fc.constant('poll' as const),
            pair: fc.boolean(),
            inject: fc.record({ call: fc.integer({ min: 1, max: 4 }), rec: recordCmd }),
          },
          { requiredKeys: ['k', 'pair'] },
        ),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          k: fc.constant('calibrate' as const),
          c: fc.constantFrom(0 as const, 1 as const),
          gb: fc.constantFrom('20', '0.5', '1.25'),
          asOf: fc.boolean(),
          racing: fc.boolean(),
        }),
      },
    ),
    { minLength: 1, maxLength: 14 },
  ),
});

/** A table of its own for one sequence. */
export interface ModelWorld {
  sim: Simulator;
  newTable(): Promise<{ doc: DynamoDBDocumentClient; tableName: string }>;
}

export class ModelMismatch extends Error {
  override name = 'ModelMismatch';
}

interface ModelRecord {
  c: string;
  type: 0 | 1;
  mb: Decimal;
  at: Date;
}
interface ModelOpening {
  mb: Decimal;
  at: Date;
  day: string;
  dayBase: Decimal;
}

/** The reference: everything that happened, folded. */
class Model {
  readonly records: ModelRecord[] = [];
  readonly usage = new Map<string, Map<string, Decimal>>();
  readonly openings = new Map<string, ModelOpening>();

  balance(c: string): Decimal {
    const o = this.openings.get(c);
    let b = o?.mb ?? new Decimal(0);
    for (const r of this.records) {
      if (r.c !== c || (o && r.at <= o.at)) continue;
      b = r.type === 0 ? b.plus(r.mb) : b.minus(r.mb);
    }
    for (const [day, mb] of this.usage.get(c) ?? []) {
      if (!o || day > o.day) b = b.minus(mb);
      else if (day === o.day) b = b.minus(Decimal.max(mb.minus(o.dayBase), 0));
    }
    return b;
  }

  /**
   * The credit records the balance keeps for the auto top-up (customers/balance.ts): the
   * 48 hours before the newest, at most 50, openings aside; as "at|MB", oldest first.
   */
  recentCredits(c: string): string[] {
    const all = this.records
      .filter((r) => r.c === c && r.type === 0)
      .sort((a, b) => a.at.getTime() - b.at.getTime());
    const from = (all.at(-1)?.at.getTime() ?? 0) - 48 * 3_600_000;
    return all
      .filter((r) => r.at.getTime() >= from)
      .slice(-50)
      .map((r) => `${r.at.toISOString()}|${r.mb.toFixed()}`);
  }

  usedOn(c: string, day: string): Decimal {
    return this.usage.get(c)?.get(day) ?? new Decimal(0);
  }
}

/** Runs one sequence; throws ModelMismatch when the system and the model part. Returns the events run. */
export async function runSequence(world: ModelWorld, seq: Sequence): Promise<number> {
  const { sim } = world;
  sim.reset({ seedData: false });
  let now = START;
  sim.setNow(now);
  const clock = () => now;
  for (const id of CUSTOMERS) sim.addCustomer({ customerId: id, account: `c${id}@example.com` });
  const { doc, tableName } = await world.newTable();
  const usage = new UsageStore(doc, tableName, { batch: { baseDelayMs: 1 } });
  const pollState = new PollStateStore(doc, tableName);
  const balances = new CustomerBalanceStore(doc, tableName);
  const records = new CustomerRecordStore(doc, tableName, { baseDelayMs: 1 });
  const upstream = createDynamicTrafficClient({
    baseUrl: sim.url,
    token: sim.token,
    timeoutMs: 10_000,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    random: () => 0.5,
  });
  const batches: BalanceChange[][] = [];
  const usageDeps: PollUsageDeps = {
    upstream,
    usage,
    series: new SeriesStore(doc, tableName, { batch: { baseDelayMs: 1 } }),
    pollState,
    polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
    timeZone: ZONE,
    clock,
  };
  const customerDeps = (up: PollCustomersDeps['upstream']): PollCustomersDeps => ({
    upstream: up,
    usage,
    balances,
    records,
    pollState,
    listeners: [{ name: 'model', onBalances: async (c) => void batches.push([...c]) }],
    config: {
      usageCounts: 'upload+download',
      recordsPageSize: seq.pageSize,
      usageDaysPerStep: 7,
      timeZone: ZONE,
      retentionDays: 30,
      safetyMarginMs: 1000,
      toleranceMinutes: 15,
    },
    clock,
  });
  const model = new Model();
  let events = 0;
  const step = (i: number, what: string) => `step ${i} (${what})`;

  const addRecord = (r: RecordCmd) => {
    events++;
    const c = CUSTOMERS[r.c];
    const stamp = new Date(Math.floor(now.getTime() / 1000) * 1000 - r.lag * 1000);
    const createTime = wallTime(stamp, ZONE);
    sim.addRecords([
      {
        customerId: c,
        account: `c${c}@example.com`,
        flowMb: r.type === 0 ? r.mb : `-${r.mb}`,
        type: r.type,
        createBy: r.by,
        createId: r.by === 'admin' ? '1' : '98765',
        createTime,
      },
    ]);
    model.records.push({
      c,
      type: r.type,
      mb: new Decimal(r.mb),
      at: parseUpstreamDateTime(createTime, ZONE),
    });
  };
  // poll-usage only when there is usage it has not stored: its runs cost more than the rest.
  let usageUnread = true;
  const runUsage = async (where: string) => {
    if (!usageUnread) return;
    usageUnread = false;
    const u = await pollUsage(usageDeps);
    if (!u.outcome.ok)
      throw new ModelMismatch(`${where}: poll-usage failed: ${JSON.stringify(u.outcome)}`);
  };
  const check = async (where: string) => {
    const stored = await balances.getMany([...CUSTOMERS]);
    for (const c of CUSTOMERS) {
      const want = model.balance(c);
      const s = stored.get(c);
      const got = s ? balanceMb(s.state) : new Decimal(0);
      if (!got.eq(want)) {
        throw new ModelMismatch(
          `${where}: customer ${c} balance ${got.toFixed()} MB, model ${want.toFixed()} MB`,
        );
      }
      const kept = (s?.state.recentCredits ?? []).map((r) => `${r.at}|${r.mb.toFixed()}`);
      const wanted = model.recentCredits(c);
      if ([...kept].sort().join() !== [...wanted].sort().join()) {
        throw new ModelMismatch(
          `${where}: customer ${c} keeps credit records ${kept.join(', ')}, model ${wanted.join(', ')}`,
        );
      }
    }
  };
  const complete = (o: CustomersPollOutcome) => o.ok && o.complete;

  for (const [i, cmd] of seq.cmds.entries()) {
    events++;
    const today = dayInZone(now, ZONE);
    switch (cmd.k) {
      case 'advance':
        now = new Date(now.getTime() + cmd.s * 1000);
        sim.setNow(now);
        break;
      case 'record':
        events--;
        addRecord(cmd);
        break;
      case 'usage': {
        const c = CUSTOMERS[cmd.c];
        sim.useTraffic({ customerId: c, downloadMb: cmd.mb });
        usageUnread = true;
        const days = model.usage.get(c) ?? new Map<string, Decimal>();
        days.set(today, model.usedOn(c, today).plus(cmd.mb));
        model.usage.set(c, days);
        break;
      }
      case 'poll': {
        await runUsage(step(i, 'poll-usage'));
        let calls = 0;
        const inject = cmd.inject;
        const injecting: PollCustomersDeps['upstream'] = {
          myRechargeFlowList: async (q, o) => {
            if (inject && ++calls === inject.call) addRecord(inject.rec);
            return upstream.myRechargeFlowList(q, o);
          },
        };
        const runs = cmd.pair
          ? await Promise.all([
              pollCustomers(customerDeps(injecting)),
              pollCustomers(customerDeps(upstream)),
            ])
          : [await pollCustomers(customerDeps(injecting))];
        for (const r of runs) {
          if (!r.outcome.ok) {
            throw new ModelMismatch(`${step(i, 'poll')}: failed: ${JSON.stringify(r.outcome)}`);
          }
        }
        // A record that landed while the runs paged may be read by the next one only.
        if (!inject && runs.every((r) => complete(r.outcome))) await check(step(i, 'poll'));
        break;
      }
      case 'calibrate': {
        const c = CUSTOMERS[cmd.c];
        // The operator's figure holds today's usage as poll-usage last stored it.
        await runUsage(step(i, 'poll-usage'));
        const input = {
          customerId: c,
          gb: new Decimal(cmd.gb),
          ...(cmd.asOf && { asOf: addDays(today, -1) }),
        };
        const deps = {
          balances,
          records,
          usage,
          pollState,
          timeZone: ZONE,
          usageCounts: 'upload+download' as const,
          clock,
        };
        const [cal] = await Promise.all([
          calibrate(deps, input),
          ...(cmd.racing ? [pollCustomers(customerDeps(upstream))] : []),
        ]);
        model.openings.set(
          c,
          cmd.asOf
            ? {
                mb: gbToMb(cmd.gb),
                at: parseUpstreamDateTime(`${today} 00:00:00`, ZONE),
                day: today,
                dayBase: new Decimal(0),
              }
            : {
                mb: gbToMb(cmd.gb),
                at: new Date(Math.floor(now.getTime() / 1000) * 1000 - 1),
                day: today,
                dayBase: model.usedOn(c, today),
              },
        );
        if (cal.opening.at !== model.openings.get(c)?.at.toISOString()) {
          throw new ModelMismatch(`${step(i, 'calibrate')}: opening at ${cal.opening.at}`);
        }
        break;
      }
    }
  }

  // Settle: a run alone over an upstream that no longer moves reads everything.
  await runUsage('end: poll-usage');
  let last: CustomersPollOutcome | undefined;
  for (let n = 0; n < 3 && !(last && complete(last)); n++) {
    last = (await pollCustomers(customerDeps(upstream))).outcome;
  }
  if (!last || !complete(last)) {
    throw new ModelMismatch(`end: poll-customers did not complete: ${JSON.stringify(last)}`);
  }
  await check('end');

  // A credit is handed on at most as often as the upstream holds it.
  const handed = new Map<string, number>();
  for (const b of batches) {
    for (const ch of b) {
      for (const cr of ch.credits) {
        const k = `${ch.after.customerId} ${cr.mb} ${cr.at}`;
        handed.set(k, (handed.get(k) ?? 0) + 1);
      }
    }
  }
  for (const [k, n] of handed) {
    const held = model.records.filter(
      (r) => r.type === 0 && `${r.c} ${r.mb.toFixed()} ${r.at.toISOString()}` === k,
    ).length;
    if (n > held)
      throw new ModelMismatch(`end: credit ${k} handed on ${n} times, upstream holds ${held}`);
  }
  return events;
}
