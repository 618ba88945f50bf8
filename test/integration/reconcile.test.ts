import { beforeAll, describe, expect, it } from 'vitest';
import type { OpsEvent, OpsEventSink } from '../../functions/commons/ops-events.ts';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import { ReportStore } from '../../functions/commons/reconcile/report-store.ts';
import { reconcile } from '../../functions/commons/reconcile/run.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';

class RecordingSink implements OpsEventSink {
  readonly events: OpsEvent[] = [];
  async raise(event: OpsEvent): Promise<void> {
    this.events.push(event);
  }
}

describe('reconcile: ledger against the upstream records (DynamoDB Local + simulator)', () => {
  const fixture = useSimulator();
  let table: TestTable;
  beforeAll(async () => {
    table = await createTestTable('recon');
  });

  /** A credit as the webhook path writes it: order created, upstream called, marked credited. */
  async function credit(
    ledger: DynamoLedger,
    paymentId: string,
    customerId: string,
    gb: string,
    at: Date,
    callUpstream: boolean,
    /** A heal (the provider's retry after a lost answer) stamps the credit later. */
    creditedAt = at,
  ) {
    const key = { provider: 'stripe', paymentId };
    const orderId = `o${paymentId}`;
    await ledger.createOrder(
      {
        ...key,
        orderId,
        state: 'CREDITING',
        customerId,
        packageId: 'p',
        quantity: 1,
        gb,
        amountMinor: 100,
        currency: 'usd',
      },
      { now: at, lease: { owner: 'test', until: at.getTime() + 60_000 } },
    );
    if (callUpstream) {
      fixture.sim.setNow(at);
      await fixture
        .client()
        .rechargeTrafficCount({ customerId, orderId, trafficGb: new Decimal(gb) });
    }
    await ledger.markCredited(key, { now: creditedAt, code: 200, message: '充值成功' });
  }

  it('matches what agrees, alerts on missing and different credits, lists manual top-ups', async () => {
    // Prepare: window 2026-03-01 (Shanghai). Customers 11 and 12 are in the channel.
    const { sim } = fixture;
    sim.addCustomer({ customerId: '11', account: 'alice' });
    sim.addCustomer({ customerId: '12', account: 'bob' });
    sim.setPool('primary', { rechargedMb: '10485760', consumedMb: '0', residualMb: '10485760' });
    const ledger = new DynamoLedger(table.doc, table.tableName);
    const sink = new RecordingSink();
    const reports = new ReportStore(table.doc, table.tableName, 30);
    await credit(ledger, 'cs_match', '11', '10', new Date('2026-03-01T02:00:00Z'), true);
    await credit(ledger, 'cs_missing', '11', '5', new Date('2026-03-01T03:00:00Z'), false);
    await credit(ledger, 'cs_amount', '12', '10', new Date('2026-03-01T04:00:00Z'), false);
    // Upstream has 5 GB where the ledger says 10 GB, and one console top-up of its own.
    sim.addRecords([
      { customerId: '12', account: 'bob', flowMb: '5120', createTime: '2026-03-01 12:01:00' },
      { customerId: '12', account: 'bob', flowMb: '2048', createTime: '2026-03-01 18:00:00' },
    ]);

    // Act
    const report = await reconcile({
      upstream: fixture.client(),
      credits: ledger,
      reports,
      sink,
      clock: () => new Date('2026-03-02T03:00:00Z'),
      config: { timeZone: 'Asia/Shanghai', windowDays: 1, toleranceMinutes: 15 },
    });

    // Assess
    expect(report.window).toEqual({ from: '2026-03-01', to: '2026-03-01' });
    expect(report.counts).toEqual({
      ledger: 3,
      upstream: 3,
      matched: 1,
      missingUpstream: 1,
      amountDifferences: 1,
      manualTopUps: 1,
    });
    expect(report.missingUpstream.map((m) => m.orderKey)).toEqual(['ORDER#stripe#cs_missing']);
    expect(report.amountDifferences[0]).toMatchObject({ ledgerMb: '10240', upstreamMb: '5120' });
    expect(report.manualTopUps).toEqual([
      { customerId: '12', account: 'bob', mb: '2048', createTime: '2026-03-01 18:00:00' },
    ]);
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]).toMatchObject({
      kind: 'reconciliation-difference',
      subject: '2026-03-01..2026-03-01',
    });
    expect(await reports.latest()).toEqual([report]);
  });

  it('raises nothing when the ledger and the upstream agree', async () => {
    const { sim } = fixture;
    sim.addCustomer({ customerId: '21', account: 'carol' });
    sim.setPool('primary', { rechargedMb: '10485760', consumedMb: '0', residualMb: '10485760' });
    const ledger = new DynamoLedger(table.doc, table.tableName);
    const sink = new RecordingSink();
    await credit(ledger, 'cs_ok', '21', '1.5', new Date('2026-04-10T15:59:00Z'), true);

    const report = await reconcile(
      {
        upstream: fixture.client(),
        credits: ledger,
        reports: new ReportStore(table.doc, table.tableName, 30),
        sink,
        clock: () => new Date(),
        config: { timeZone: 'Asia/Shanghai', windowDays: 1, toleranceMinutes: 15 },
      },
      { from: '2026-04-10', to: '2026-04-10' },
    );

    expect(report.counts).toMatchObject({
      ledger: 1,
      matched: 1,
      missingUpstream: 0,
      amountDifferences: 0,
      manualTopUps: 0,
    });
    expect(report.alerted).toBe(false);
    expect(sink.events).toEqual([]);
  });

  it('matches a credit healed 20 minutes after the upstream applied it, one record to one credit', async () => {
    // Prepare: the upstream applied 10 GB at 02:00 (answer lost); Stripe's retry 20 minutes
    // later credited the order. Another 10 GB of the same customer credited at once at 02:30.
    const { sim } = fixture;
    sim.addCustomer({ customerId: '31', account: 'dave' });
    sim.setPool('primary', { rechargedMb: '10485760', consumedMb: '0', residualMb: '10485760' });
    const ledger = new DynamoLedger(table.doc, table.tableName);
    const sink = new RecordingSink();
    const at = new Date('2026-05-01T02:00:00Z');
    await credit(ledger, 'cs_healed', '31', '10', at, true, new Date(at.getTime() + 20 * 60_000));
    await credit(ledger, 'cs_prompt', '31', '10', new Date(at.getTime() + 30 * 60_000), true);

    const report = await reconcile(
      {
        upstream: fixture.client(),
        credits: ledger,
        reports: new ReportStore(table.doc, table.tableName, 30),
        sink,
        clock: () => new Date(),
        config: { timeZone: 'Asia/Shanghai', windowDays: 1, toleranceMinutes: 15 },
      },
      { from: '2026-05-01', to: '2026-05-01' },
    );

    expect(report.counts).toMatchObject({
      ledger: 2,
      upstream: 2,
      matched: 2,
      missingUpstream: 0,
      amountDifferences: 0,
      manualTopUps: 0,
    });
    expect(sink.events).toEqual([]);
  });
});
