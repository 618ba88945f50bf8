import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, expect, it } from 'vitest';
import { AlertEventSink } from '../../functions/commons/alerts/index.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { SnsNotifier } from '../../functions/commons/notifier/index.ts';
import type { Ledger } from '../../functions/commons/payments/ledger/ledger.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import { checkoutCompleted, newSessionId } from './payments-fixtures.ts';

/**
 * Found by adversarial review 4 (#26): the `:retrying` alert was raised before `release` wrote
 * `lastError`, and only an order with `lastError` closes it when credited. A release that
 * failed (DynamoDB throttled) left it open (reminders) for an order credited later. It is now
 * raised once the failure is recorded on the order (a lost one: the next retry alerts).
 */
const sns = mockClient(SNSClient);
afterEach(() => {
  sns.reset();
});
const pay = usePaymentWebhook({ table: 'retrying-stale', customers: ['88'] });

it('a refusal whose release was lost, then a credit: the "will be retried" alert is closed', {
  timeout: 60_000,
}, async () => {
  const table = await createTestTable('retrying-stale-alerts');
  const store = new AlertStateStore({ client: table.doc, tableName: table.tableName });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  const sink = new AlertEventSink({
    state: store,
    notifier: new SnsNotifier({ topicArn: 'arn:aws:sns:us-east-1:1:a', client: new SNSClient({}) }),
    clock: () => new Date(),
    reminderMs: 240 * 60_000,
  });
  const throttled = new Proxy(pay.ledger as Ledger, {
    get(target, prop, receiver) {
      if (prop === 'release') {
        return async () => {
          throw new Error('ProvisionedThroughputExceededException');
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const id = newSessionId();
  pay.fx.sim.addFault({ kind: 'code', endpoint: 'rechargeTrafficCount', code: 500, times: 1 });
  expect((await pay.handler({ sink, ledger: throttled })(checkoutCompleted(id))).statusCode).toBe(
    503,
  );
  const subject = `order:stripe:${id}:retrying`;
  // Stripe retries after the lease (120 s) ran out.
  const later = () => new Date(Date.now() + 5 * 60_000);
  const retry = await pay.handler({ sink, clock: later })(checkoutCompleted(id));
  expect(JSON.parse(retry.body ?? '{}').result).toBe('credited');
  expect((await store.get('topup-failed', subject))?.status ?? 'ok').toBe('ok');
});
