/**
 * What bench/webhook.ts measures, built as the Lambda bundles are (infra/bundling.ts: esbuild,
 * minified, the AWS SDK bundled, no keepNames) rather than run from source under tsx, whose
 * keepNames wraps every closure the handler creates. The raw baseline goes through the same
 * bundled SDK, so both sides send with the same code.
 */
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
export { documentClient } from '../functions/commons/clients/dynamodb.ts';
export { paymentsSchema } from '../functions/commons/config/payments.ts';
export { logger } from '../functions/commons/logger.ts';
export { instrument, metricsOutput } from '../functions/commons/observability.ts';
export { deriveOrderId } from '../functions/commons/payments/catalog.ts';
export { toWebhookRequest } from '../functions/commons/payments/http.ts';
export { DynamoLedger } from '../functions/commons/payments/ledger/ledger.ts';
export { stripeSignatureValid } from '../functions/commons/payments/providers/stripe-signature.ts';
export { PROVIDERS } from '../functions/commons/payments/webhook.ts';
export { ensureTable } from '../functions/commons/store/table.ts';
export { createDynamicTrafficClient } from '../functions/commons/upstream/client.ts';
export { createPaymentWebhookHandler } from '../functions/payment-webhook.ts';
