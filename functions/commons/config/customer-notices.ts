import { z } from 'zod';
import { assertTimeZone, DEFAULT_UPSTREAM_ZONE } from '../units.ts';
import { NOTICE_LOCALES } from './notice-locales.ts';

/** Locales a notice can be written in; anything else falls back to the default locale. */

export const timeZoneSchema = z.string().refine(
  (zone) => {
    try {
      assertTimeZone(zone);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as Asia/Shanghai' },
);

/** `https://…` (or `http://` for a local shop); `{customerId}` is replaced per customer. */
const paymentLink = z
  .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
  .max(512)
  .refine((u) => !/[{}]/.test(u.replaceAll('{customerId}', '')), {
    message: 'the only placeholder allowed is {customerId}',
  });

/**
 * When a customer is running low. Each figure is one trigger (0 turns it off); the customer
 * is low when any enabled trigger holds. A contact may override each one.
 */
export const runningLowSchema = z
  .strictObject({
    gb: z.number().min(0).max(1_000_000).default(5).describe('Balance below this many GB.'),
    percentOfLastTopUp: z
      .number()
      .min(0)
      .max(100)
      .default(20)
      .describe('Balance below this percent of the last top-up.'),
    daysLeft: z
      .number()
      .min(0)
      .max(365)
      .default(3)
      .describe('Fewer than this many days left at the current burn (both burns must agree).'),
  })
  .prefault({});

export type RunningLowThresholds = z.infer<typeof runningLowSchema>;

const notices = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Off: balances still tracked and the episodes kept, but nothing is sent or printed.',
      ),
    /**
     * Email through Amazon SES v2. Absent: no email. `identity` is the verified SES identity
     * that sends (the `from` address itself or its domain, @default the domain of `from`);
     * the stack creates it and scopes `ses:SendEmail` to it.
     */
    email: z
      .strictObject({
        from: z
          .email({ message: 'must be an email address' })
          .describe('Sender address of customer emails.'),
        fromName: z.string().min(1).max(64).optional().describe('Display name of the sender.'),
        identity: z
          .string()
          .min(3)
          .max(253)
          .optional()
          .describe(
            'Verified SES identity that sends: `from` or its domain (default: the domain of `from`).',
          ),
        createIdentity: z
          .boolean()
          .default(true)
          .describe(
            'False: the identity exists already (another stack, the console); only grant it.',
          ),
        replyTo: z
          .email({ message: 'must be an email address' })
          .optional()
          .describe('Reply-To address of customer emails.'),
      })
      .superRefine((v, ctx) => {
        const domain = v.from.slice(v.from.lastIndexOf('@') + 1).toLowerCase();
        const id = v.identity?.toLowerCase();
        if (id !== undefined && id !== domain && id !== v.from.toLowerCase()) {
          ctx.addIssue({
            code: 'custom',
            path: ['identity'],
            message: `must be the from address or its domain (${domain}), got ${v.identity}`,
          });
        }
      })
      .optional()
      .describe('Email through Amazon SES v2.'),
    sms: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Send customer SMS.'),
        senderId: z
          .string()
          .regex(/^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$/, 'must be 1-11 letters or digits')
          .optional()
          .describe('Alphanumeric sender id where the destination country allows one.'),
        fromHour: z
          .int()
          .min(0)
          .max(23)
          .default(8)
          .describe("SMS only from `fromHour` to before `toHour`, in the customer's time zone."),
        toHour: z
          .int()
          .min(1)
          .max(24)
          .default(22)
          .describe("SMS only before this hour, in the customer's time zone."),
        /**
         * The account's SNS SMS spend limit (`MonthlySpendLimit`, USD; AWS starts every account
         * at 1). Set it in SNS yourself; the stack alarms at 80 % of this figure.
         */
        monthlySpendLimitUsd: z
          .number()
          .min(1)
          .max(1_000_000)
          .default(1)
          .describe(
            "The account's SNS SMS spend limit in USD, as set in SNS; the stack alarms at 80 %.",
          ),
      })
      .refine((v) => v.fromHour < v.toHour, {
        path: ['toHour'],
        message: 'must be after fromHour',
      })
      .prefault({})
      .describe(
        "SMS by SNS `Publish` to the customer's number, only inside the quiet-hours window.",
      ),
    /**
     * E.164 prefixes (`+86`, `+1`, `+4420`) a customer SMS may go to; any other number gets
     * no SMS (recorded as skipped). Empty: no customer SMS at all.
     */
    smsCountries: z
      .array(z.string().regex(/^\+[1-9]\d{0,5}$/, 'must be an E.164 prefix like +86'))
      .max(300)
      .default([])
      .describe('E.164 prefixes (`+86`, `+4420`) customer SMS may go to; empty: no customer SMS.'),
    /**
     * Notices per customer, channel and day (in `defaultTimeZone`); what is over is recorded
     * as `capped`. Reminders may use all but the last one, which is kept for receipts.
     */
    dailyCap: z
      .strictObject({
        email: z.int().min(1).max(1000).default(10).describe('Emails per customer and day.'),
        sms: z.int().min(1).max(100).default(3).describe('SMS per customer and day.'),
      })
      .prefault({})
      .describe(
        'Notices per customer, channel and day (in `defaultTimeZone`); more are recorded as `capped`.',
      ),
    /**
     * The customer page's address that confirms an email captured from a payment, with
     * `{token}` substituted; a receipt to such an address carries it. Absent: no link, and a
     * captured address gets receipts only until the operator sets it.
     */
    confirmContactUrl: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
      .max(512)
      .refine((u) => u.includes('{token}') && !/[{}]/.test(u.replaceAll('{token}', '')), {
        message: 'must contain {token} and no other placeholder',
      })
      .optional()
      .describe(
        'Customer page address that confirms an email captured from a payment; `{token}` substituted.',
      ),
    defaultLocale: z
      .enum(NOTICE_LOCALES)
      .default('en')
      .describe('Locale of customers whose contact names none.'),
    defaultTimeZone: timeZoneSchema
      .default(DEFAULT_UPSTREAM_ZONE)
      .describe('For customers whose contact names no zone (a locale does not imply one).'),
    runningLow: runningLowSchema.describe('When a customer is running low; 0 turns a trigger off.'),
    hysteresisPercent: z
      .number()
      .min(0)
      .max(100)
      .default(10)
      .describe(
        'A running-low episode ends without a top-up only once every trigger is cleared by this many percent.',
      ),
    outboxRetentionDays: z
      .int()
      .min(1)
      .max(3650)
      .default(90)
      .describe('Days an outbox entry is kept.'),
  })
  .prefault({});

/** Keys of `customers` owned by the customer notices. */
export const customerNoticesConfigShape = {
  /** Link to pay, in every notice; `{customerId}` is substituted. Absent: no link. */
  paymentLinkUrl: paymentLink
    .optional()
    .describe('Link to pay, in every notice; `{customerId}` is substituted.'),
  notices: notices.describe('Notices sent to customers: channels, hours, caps, triggers.'),
};

export type CustomerNoticesConfig = z.infer<typeof notices>;

/** The SES identity that sends: the configured one, else the from address's domain. */
export function sesIdentityOf(email: NonNullable<CustomerNoticesConfig['email']>): string {
  return email.identity ?? email.from.slice(email.from.lastIndexOf('@') + 1).toLowerCase();
}
