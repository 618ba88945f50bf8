import { z } from 'zod';
import { ISO_COUNTRIES } from './sms-countries.ts';

const COUNTRIES = new Set(ISO_COUNTRIES);

export const notificationsSchema = z.strictObject({
  emails: z
    .array(z.email({ message: 'must be an email address' }))
    .default([])
    .describe('Subscribed to every alert.'),
  phoneNumbers: z
    .array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number like +15551234567'))
    .default([])
    .describe('E.164 numbers; subscribed to critical alerts only.'),
  /**
   * Countries (ISO 3166-1 alpha-2, e.g. "CN") any SMS of this account may go to: the agent's
   * critical alerts and customer notices share the account's SMS spend limit. The stack
   * makes an End User Messaging protect configuration that blocks every other country, in
   * force once it is the account default (docs/security-model.md); it must cover
   * `phoneNumbers`. Empty: no protect configuration.
   */
  smsProtectCountries: z
    .array(
      z.string().refine((c) => COUNTRIES.has(c), {
        message: 'must be an ISO 3166-1 alpha-2 country code in capitals such as "CN"',
      }),
    )
    .refine((codes) => new Set(codes).size === codes.length, 'lists a country twice')
    .default([])
    .describe(
      'Countries (ISO 3166-1 alpha-2, e.g. "CN") any SMS of this account may go to; empty: no protection.',
    ),
});

export type NotificationsConfig = z.infer<typeof notificationsSchema>;
