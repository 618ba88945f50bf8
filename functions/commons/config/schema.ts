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
  upstream: upstreamSchema.prefault({}),
  schedules: schedulesSchema.prefault({}),
  polling: pollingSchema.prefault({}),
  alerts: alertsSchema.prefault({}),
  payments: paymentsSchema.prefault({}),
  notifications: notificationsSchema.prefault({}),
  reconcile: reconcileSchema.prefault({}),
  customers: customersSchema.prefault({}),
  logs: logsSchema.prefault({}),
  autoTopup: autoTopupSchema.prefault({}),
  portal: portalSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
/** What a config file may say: every key optional, defaults filled in by the schema. */
export type ConfigInput = z.input<typeof configSchema>;
