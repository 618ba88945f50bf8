import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { storedBalances } from '../../functions/commons/autotopup/balances.ts';
import { AutoTopupEngine } from '../../functions/commons/autotopup/engine.ts';
import type { AutoTopupNotice } from '../../functions/commons/autotopup/notices.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import { deriveOrderId } from '../../functions/commons/payments/catalog.ts';
import { DynamoLedger, ledgerKeys } from '../../functions/commons/payments/ledger/ledger.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { readRuntimeInfo } from '../../local/cli/connection.ts';
import { run } from '../../local/cli/main.ts';
import { LOCAL_DEMO_CATALOG } from '../../local/runtime/env.ts';
import { customerBalance } from '../helpers/balances.ts';
import { Captured } from '../helpers/cli.ts';
import { ROOT, stripeStandInOf, useLocalRuns } from '../helpers/npm-start.ts';
import { RecordingSink } from '../integration/payments-fixtures.ts';

/**
 * Auto top-up through `npm start`: the CLI opts a customer in against the running runtime,
 * the engine (fed the balance change the balance poll will hand it) charges the card at the
 * runtime's Stripe stand-in, the stand-in delivers the signed webhook to the runtime, which
 * credits through the simulator, and the next balance change ends the episode.
 */
describe('local runtime end to end: auto top-up with the Stripe stand-in', () => {
  const startLocal = useLocalRuns();

  it('charges once, is credited by the webhook, and shows it in the history', async () => {
    // Prepare: npm start on free ports and a fresh data folder
    const running = await startLocal({ text: '  try ' });
    const output = running.output();
    expect(output).toMatch(/stripe {7}built-in Stripe stand-in at http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toContain('npx flowpilot autotopup set 88 --package demo-10gb');
    // The stand-in's key is random per run; the banner prints it.
    const { url: standInUrl, key: standInKey } = stripeStandInOf(output);
    const info = readRuntimeInfo(running.dataDir);
    if (!info) throw new Error(`no runtime info:\n${output}`);
    expect((await running.invoke('poll-totals')).ok).toBe(true);

    // Act 1: the operator opts customer 1001 in with the CLI, against the running runtime
    const out = new Captured();
    const io = { stdout: out, stderr: out, env: { ...running.env, USER: 'e2e' }, cwd: ROOT };
    const set = ['autotopup', 'set', '1001', '--package', 'demo-10gb', '--below-gb', '20'];
    const card = ['--payment-method', 'pm_card_visa', '--stripe-customer', 'cus_local'];
    expect(await run([...set, ...card], io)).toBe(0);

    // Act 2: the balance computation reports customer 1001 low, twice at once
    const ddb = new DynamoDBClient({
      endpoint: info.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const doc = documentClient(ddb);
    const config = parseConfig({ payments: { catalog: LOCAL_DEMO_CATALOG } });
    const notices: AutoTopupNotice[] = [];
    const engine = new AutoTopupEngine({
      store: new AutoTopupStore(doc, info.tableName),
      stripe: async () => createStripeApi(stripeClient(standInKey, standInUrl)),
      ledger: new DynamoLedger(doc, info.tableName),
      balances: storedBalances(
        new CustomerBalanceStore(doc, info.tableName),
        config.upstream.timeZone,
        () => new Date(),
      ),
      snapshots: new SnapshotStore(doc, info.tableName),
      sink: new RecordingSink(),
      notices: { send: async (n) => void notices.push(n) },
      clock: () => new Date(),
      config: { autoTopup: config.autoTopup, payments: config.payments },
    });
    const balance = (gb: string) => customerBalance('1001', gb, new Date());
    const low = [{ before: balance('25'), after: balance('5'), credits: [] }];
    await Promise.all([engine.onBalances(low), engine.onBalances(low)]);

    // Assess: the stand-in's webhook reached the runtime and the simulator was credited once
    const store = new AutoTopupStore(doc, info.tableName);
    const pi = (await store.get('1001'))?.episode?.paymentIntentId ?? '';
    expect(pi).toMatch(/^pi_/);
    let ledger: { orderId: string; customerId: string; trafficGb: string }[] = [];
    for (let i = 0; i < 40; i++) {
      ledger = (await (await fetch(new URL('/_sim/ledger', running.sim))).json()) as typeof ledger;
      if (ledger.some((l) => l.orderId === deriveOrderId('stripe', pi))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(ledger.filter((l) => l.customerId === '1001')).toEqual([
      expect.objectContaining({ orderId: deriveOrderId('stripe', pi), trafficGb: '10' }),
    ]);

    // Act 3: the next computation sees the credit; the episode ends
    await engine.onBalances([
      {
        before: balance('5'),
        after: balance('15'),
        credits: [
          {
            mb: gbToMb(10).toFixed(),
            at: new Date().toISOString(),
            // As the balance poll names it: the ledger's order key.
            orderId: ledgerKeys.order({ provider: 'stripe', paymentId: pi }).pk,
          },
        ],
      },
    ]);
    out.text = '';
    expect(await run(['autotopup', 'history', '1001', '--json'], io)).toBe(0);
    const lines = JSON.parse(out.text) as { event: string }[];
    expect(lines.map((l) => l.event).reverse()).toEqual(['on', 'episode', 'charged', 'credited']);
    expect(notices).toEqual([]);
    ddb.destroy();
  }, 180_000);
});
