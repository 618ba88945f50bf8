import { z } from 'zod';
import { alertsSchema } from './alerts.ts';
import { autoTopupSchema } from './autotopup.ts';
import { customersSchema } from './customers.ts';
import { logsSchema } from './logs.ts';
import { notificationsSchema } from './notifications.ts';
import { paymentsSchema } from './payments.ts';
import { pollingSchema } from './polling.ts';
import { portalSchema } from './portal.ts';
import { reconcileSchema } from './reconcile.ts';
import { schedulesSchema } from './schedules.ts';
import { upstreamSchema } from './upstream.ts';

/**
 * Everything FlowPilot is told, in one schema: the CDK app validates it at synth and hands
 * the parsed result to the functions; the local runtime loads the same file.
 * Secrets never live here (they come from Secrets Manager or the environment).
 */
export const configSchema = z.strictObject({
  upstream: upstreamSchema
    .prefault({})
    .describe('The Dynamic Traffic API: address, calendar, timeouts, retries.'),
  schedules: schedulesSchema.prefault({}).describe('When the scheduled functions run.'),
  polling: pollingSchema
    .prefault({})
    .describe('How poll-usage pages through flowReport, and how long figures are kept.'),
  alerts: alertsSchema
    .prefault({})
    .describe('Alert rules, thresholds and how notifications are paced.'),
  payments: paymentsSchema
    .prefault({})
    .describe('Payment providers, the catalog and the limits on crediting.'),
  notifications: notificationsSchema.prefault({}).describe("Who the agent's alerts go to."),
  reconcile: reconcileSchema
    .prefault({})
    .describe("The daily reconciliation with the upstream's recharge records."),
  customers: customersSchema
    .prefault({})
    .describe('Customer balances and the notices sent to customers.'),
  logs: logsSchema.prefault({}).describe('CloudWatch Logs retention.'),
  autoTopup: autoTopupSchema.prefault({}).describe('Automatic top-up with saved Stripe cards.'),
  portal: portalSchema.prefault({}).describe('The customer page and its signed links.'),
});

export type Config = z.infer<typeof configSchema>;
/** What a config file may say: every key optional, defaults filled in by the schema. */
export type ConfigInput = z.input<typeof configSchema>;
