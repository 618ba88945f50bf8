import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import { CustomerContactStore } from '../customer-notices/store/customer-contacts.ts';
import type { OpsEventSink } from '../ops-events.ts';
import { getSecret } from '../secrets.ts';
import { upstreamFromEnv } from '../upstream/wiring.ts';
import { alertingFromEnv, tableName } from '../wiring.ts';
import { contactSaver } from './contact.ts';
import { DynamoLedger } from './ledger/ledger.ts';
import type { PaymentDeps } from './types.ts';

export type OpsEventSinkFactory = () => OpsEventSink;

/**
 * THE place where payment alerts leave the function: the alerts module's ops-event sink
 * (alert state in DynamoDB, then SNS, or the console locally). Swap the factory here, or
 * pass `sinkFactory`, to send them elsewhere.
 */
export const createOpsEventSink: OpsEventSinkFactory = () => alertingFromEnv().events;

let stable: Pick<PaymentDeps, 'ledger' | 'sink' | 'config' | 'saveContact'> | undefined;

/**
 * The webhook's collaborators in AWS and the local runtime. The ledger, the sink and the
 * config are built once per container; the upstream client per invocation, because its
 * token comes from the secret cache (cheap) and a rotation must take effect while warm.
 * Webhook secrets are read per request for the same reason.
 */
export async function createPaymentDeps(
  opts: { sinkFactory?: OpsEventSinkFactory } = {},
): Promise<PaymentDeps> {
  stable ??= {
    ledger: new DynamoLedger(docClient, tableName()),
    sink: (opts.sinkFactory ?? createOpsEventSink)(),
    config: getConfig().payments,
    saveContact: contactSaver(new CustomerContactStore(docClient, tableName())),
  };
  return {
    ...stable,
    upstream: await upstreamFromEnv(),
    clock: () => new Date(),
    getSecret: (name) => getSecret(name),
  };
}
