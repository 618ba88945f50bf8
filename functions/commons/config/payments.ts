import { z } from 'zod';
import { assertTimeZone, DEFAULT_UPSTREAM_ZONE, Decimal } from '../units.ts';

const DECIMAL_TEXT = /^\d+(\.\d+)?$/;

/** GB as a positive decimal (number or text), normalised to plain decimal text. */
const gbAmount = z
  .union([z.number(), z.string()])
  .refine((v) => (typeof v === 'number' ? Number.isFinite(v) && v > 0 : DECIMAL_TEXT.test(v)), {
    message: 'must be a positive decimal number of GB such as 10 or "2.5"',
  })
  .transform((v) => new Decimal(typeof v === 'number' ? v.toString() : v))
  .refine((d) => d.gt(0) && d.decimalPlaces() <= 2, {
    message: 'must be greater than 0 with at most 2 decimal places (the upstream takes 0.01 GB)',
  })
  .transform((d) => d.toFixed());

/** ISO 4217 code in either case, stored lower case as Stripe sends it. */
const currency = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO 4217 currency code such as "usd"')
  .transform((c) => c.toLowerCase());

export const packageSchema = z.strictObject({
  gb: gbAmount.describe('Traffic credited per unit bought.'),
  price: z
    .int()
    .min(1)
    .max(1_000_000_000)
    .describe("Price per unit in the currency's minor units (cents, fen)."),
  currency: currency.describe('ISO 4217 currency of the price, any case (stored lower case).'),
});

export type PackageConfig = z.infer<typeof packageSchema>;

const packageId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'package ids are 1-64 characters of A-Z a-z 0-9 _ . -');

// Owned by the payments work: catalog, limits, provider settings.
export const paymentsSchema = z.strictObject({
  /**
   * Providers enabled on purpose; every other `/webhooks/{provider}` answers 404 before any
   * secret is read. None by default: a deployment names the ones it has secrets for.
   */
  providers: z
    .array(z.enum(['stripe', 'standard', 'epay'], 'must be "stripe", "standard" or "epay"'))
    .refine((ids) => new Set(ids).size === ids.length, 'lists a provider twice')
    .default([])
    .describe('Providers enabled; every other `/webhooks/{provider}` answers 404.'),
  maxBodyBytes: z
    .int()
    .min(1024)
    .max(1_048_576)
    .default(65_536)
    .describe('Largest webhook body accepted, in bytes; larger answers 413.'),
  /** What can be bought: package id → GB, price and currency. Credited GB come only from here. */
  catalog: z
    .record(packageId, packageSchema)
    .default({})
    .describe('What can be bought: package id → GB, price and currency.'),
  maxQuantity: z
    .int()
    .min(1)
    .max(1_000_000)
    .default(1000)
    .describe('Largest quantity of one package in one order; beyond it the event is malformed.'),
  maxGbPerOrder: gbAmount
    .default('10000')
    .describe('Orders crediting more GB than this are held for a human instead of credited.'),
  monthlyCapGbPerCustomer: gbAmount
    .default('50000')
    .describe('GB one customer may be credited per calendar month before orders are held.'),
  capTimeZone: z
    .string()
    .refine(
      (zone) => {
        try {
          assertTimeZone(zone);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must be an IANA time zone such as Asia/Shanghai' },
    )
    .default(DEFAULT_UPSTREAM_ZONE)
    .describe("Calendar in which the monthly cap's months are counted."),
  /**
   * How long a delivery owns an order while it calls the upstream. Must outlast the function's
   * timeout: after it, another delivery may retry (safe, the upstream dedupes on orderId).
   */
  leaseSeconds: z
    .int()
    .min(10)
    .max(900)
    .default(120)
    .describe('How long a delivery owns an order while it calls the upstream.'),
  stripe: z
    .strictObject({
      toleranceSeconds: z
        .int()
        .min(30)
        .max(3600)
        .default(300)
        .describe("Largest age of a signed Stripe timestamp, seconds (Stripe's own default)."),
      /**
       * Which Stripe mode's events may move traffic: `true` live only, `false` test only;
       * events of the other mode are acknowledged and ignored, so a test-mode secret left in
       * a rotation list cannot credit real traffic. Unset: live only (the local runtime,
       * whose development secret is a test one, makes it test only).
       */
      livemode: z
        .boolean()
        .optional()
        .describe(
          "Which Stripe mode's events move traffic: `true` live only, `false` test only; unset: live (test locally).",
        ),
      noPaymentRequired: z
        .enum(['hold', 'credit'])
        .default('hold')
        .describe(
          'A Checkout paid with a 100 % discount: `hold` for a human or `credit` like any paid order.',
        ),
      /**
       * Take a full live secret key (`sk_live_`) as a Stripe key. Off: only restricted keys
       * (`rk_live_`) with the permissions each function needs; a full key is refused at start.
       */
      allowSecretKey: z
        .boolean()
        .default(false)
        .describe('Take a full live secret key (`sk_live_`) as a Stripe key.'),
    })
    .prefault({})
    .describe('Stripe webhooks.'),
  epay: z
    .strictObject({
      pid: z
        .string()
        .regex(/^\w{1,64}$/, 'must be the epay merchant id (pid)')
        .optional()
        .describe(
          "Merchant id (`pid`), required once `EPAY_KEY` is set; other merchants' notifications are refused.",
        ),
      currency: currency
        .default('cny')
        .describe('epay amounts (`money`) are decimal yuan; minor units are fen.'),
    })
    .prefault({})
    .describe('彩虹易支付 (epay) notifications.'),
});

export type PaymentsConfig = z.infer<typeof paymentsSchema>;
