import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import { createPaymentWebhookHandler, type WebhookHooks } from '../../functions/payment-webhook.ts';
import {
  getTestSecret,
  RecordingSink,
  testPaymentsConfig,
} from '../integration/payments-fixtures.ts';
import type { TestTable } from './dynamo.ts';

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
