import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { alertUncreditedOrders } from '../../functions/commons/payments/uncredited.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { webhookHandler } from '../helpers/payments.ts';
import { fundedPool, useSimulator } from '../helpers/simulator.ts';
import {
  checkoutSession,
  getTestSecret,
  RecordingSink,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

const fx = useSimulator();

/**
 * A paid order whose every upstream call failed stays RECEIVED; once the provider stops
 * retrying nothing else touches it. Found by review (#26): nobody was told.
 */
describe('paid orders left uncredited', () => {
  let table: TestTable;
  let ledger: DynamoLedger;
  let sink: RecordingSink;
  let now: number;

  beforeAll(async () => {
    table = await createTestTable('uncredited');
    ledger = new DynamoLedger(table.doc, table.tableName);
  });
  beforeEach(() => {
    sink = new RecordingSink();
    fundedPool(fx.sim, '88');
    now = Date.now();
  });

  const handler = () => {
    const deps: PaymentDeps = {
      ledger,
      upstream: fx.client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 } }),
      sink,
      clock: () => new Date(now),
      config: testPaymentsConfig(),
      getSecret: getTestSecret,
    };
    return webhookHandler(deps);
  };
  const paid = (id: string) =>
    stripeDelivery('stripe', stripeEvent('checkout.session.completed', checkoutSession(id)));
  const check = () => alertUncreditedOrders({ ledger, sink, clock: () => new Date(now) });

  it('alerts a person once a paid order stayed uncredited for an hour, naming how to replay it', async () => {
    // Prepare: one order every upstream call of which failed, one credited.
    const stuck = `cs_test_${randomUUID().replace(/-/g, '')}`;
    const credited = `cs_test_${randomUUID().replace(/-/g, '')}`;
    fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 1 });
    const failed = await handler()(paid(stuck));
    await handler()(paid(credited));

    // Act
    const soon = await check();
    const alertsSoon = sink.events.length;
    now += 61 * 60_000;
    const later = await check();

    // Assess
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(soon).toBe(0);
    expect(alertsSoon).toBe(sink.events.length - 1);
    expect(later).toBeGreaterThanOrEqual(1);
    const alert = sink.events.at(-1);
    expect(alert).toMatchObject({
      kind: 'topup-failed',
      severity: 'critical',
      subject: 'orders-not-credited',
    });
    expect(alert?.details.orders).toContain(`stripe:${stuck} (customer 88, 10 GB)`);
    expect(alert?.details.orders).not.toContain(credited);
  });

  it('says nothing once the stuck order is credited', async () => {
    // Prepare
    const id = `cs_test_${randomUUID().replace(/-/g, '')}`;
    fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 1 });
    await handler()(paid(id));
    now += 2 * 60_000;
    const healed = await handler()(paid(id));
    now += 61 * 60_000;
    sink = new RecordingSink();

    // Act
    await check();

    // Assess
    expect(healed.statusCode).toBe(200);
    expect(sink.events.map((e) => e.details.orders ?? '').join(' ')).not.toContain(id);
  });
});
