import { beforeEach } from 'vitest';
import {
  DynamoLedger,
  type Ledger,
  type OrderKey,
} from '../../functions/commons/payments/ledger/ledger.ts';
import { LedgerReader } from '../../functions/commons/payments/ledger/ledger-read.ts';
import type { SweepDeps } from '../../functions/commons/payments/sweep.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import { createPaymentWebhookHandler, type WebhookHooks } from '../../functions/payment-webhook.ts';
import type { ReplayDeps } from '../../local/cli/commands/replay.ts';
import {
  getTestSecret,
  RecordingSink,
  testPaymentsConfig,
} from '../integration/payments-fixtures.ts';
import { type TestTable, useTestTable } from './dynamo.ts';
import { fundedPool, type SimulatorFixture, useSimulator } from './simulator.ts';

/**
 * What the payment webhook works with, on real parts: the ledger on the test table, the given
 * upstream client (the simulator's), the test secrets and catalog, a recording sink, the wall
 * clock; `over` replaces any of it.
 */
export function paymentDeps(
  table: TestTable,
  upstream: DynamicTrafficApi,
  over: Partial<PaymentDeps> = {},
): PaymentDeps {
  return {
    ledger: new DynamoLedger(table.doc, table.tableName),
    upstream,
    sink: new RecordingSink(),
    clock: () => new Date(),
    config: testPaymentsConfig(),
    getSecret: getTestSecret,
    ...over,
  };
}

/**
 * Claims the 500-cent refund part `<charge>:500` (5 GB of customer 88's 10 GB order) as a
 * delivery does before it calls the upstream: left DEDUCTING, as when that delivery died.
 */
export function claimRefundPart(
  ledger: Pick<Ledger, 'claimDeduction'>,
  key: OrderKey,
  charge: string,
  now: Date,
): ReturnType<Ledger['claimDeduction']> {
  return ledger.claimDeduction({
    key,
    part: {
      partId: `${charge}:500`,
      state: 'DEDUCTING',
      kind: 'refund',
      customerId: '88',
      gb: '5',
      minor: 500,
    },
    expect: { refundedMinor: 0, deductedMinor: 0, version: 0 },
    next: { refundedMinor: 500, deductedMinor: 500, deductedGb: '5' },
    now,
  });
}

/** The payment webhook handler as functions/payment-webhook.ts builds it, over `deps`. */
export function webhookHandler(
  deps: PaymentDeps,
  hooks: WebhookHooks = {},
): ReturnType<typeof createPaymentWebhookHandler> {
  return createPaymentWebhookHandler(
    async () => deps,
    () => deps.config,
    hooks,
  );
}

export interface PaymentWebhookFixture {
  /** The simulator the webhook credits through. */
  readonly fx: SimulatorFixture;
  readonly table: TestTable;
  readonly ledger: DynamoLedger;
  /** Emptied before each test. */
  readonly sink: RecordingSink;
  /** paymentDeps over the table, ledger and sink, upstream the simulator without retries. */
  deps(over?: Partial<PaymentDeps>): PaymentDeps;
  /** The webhook handler over deps(over). */
  handler(over?: Partial<PaymentDeps>, hooks?: WebhookHooks): ReturnType<typeof webhookHandler>;
  /** What the sweep of stuck deductions works with: lease 120 s, wall clock. */
  sweepDeps(over?: Partial<SweepDeps>): SweepDeps;
  /** What the operator's replay and release work with: wall clock, test catalog. */
  replayDeps(): ReplayDeps;
  /** GB the simulator's upstream gave net (credits − deductions), to 0.01. */
  netGb(): number;
}

/**
 * The payment webhook over a table and a simulator of its own (both started in beforeAll),
 * with `customers` in a funded pool before each test.
 */
export function usePaymentWebhook(opts: {
  table: string;
  customers: string[];
}): PaymentWebhookFixture {
  const fx = useSimulator();
  const table = useTestTable(opts.table);
  const ledger = new DynamoLedger(table.doc, table.tableName);
  const sink = new RecordingSink();
  beforeEach(() => {
    sink.events.length = 0;
    fundedPool(fx.sim, ...opts.customers);
  });
  const deps = (over: Partial<PaymentDeps> = {}) =>
    paymentDeps(table, fx.client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 } }), {
      ledger,
      sink,
      ...over,
    });
  return {
    fx,
    table,
    ledger,
    sink,
    deps,
    handler: (over, hooks) => webhookHandler(deps(over), hooks),
    sweepDeps: (over) => ({
      ledger,
      reader: new LedgerReader(table.doc, table.tableName),
      upstream: fx.client(),
      sink,
      clock: () => new Date(),
      leaseSeconds: 120,
      ...over,
    }),
    replayDeps: () => ({
      ledger,
      upstream: () => fx.client(),
      sink,
      clock: () => new Date(),
      payments: testPaymentsConfig(),
    }),
    netGb: () => {
      let gb = 0;
      for (const o of fx.sim.ledger()) gb += Number(o.trafficGb);
      for (const d of fx.sim.deductions()) gb -= Number(d.trafficGb);
      return Math.round(gb * 100) / 100;
    },
  };
}
