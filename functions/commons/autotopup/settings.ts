import type { AutoTopupConfig } from '../config/autotopup.ts';
import type { PaymentsConfig } from '../config/payments.ts';
import { canonicalCustomerId } from '../customer-id.ts';
import { FlowPilotError } from '../errors.ts';
import { Decimal, formatGb } from '../units.ts';
import { type AutoTopupStore, stamped } from './store/autotopup.ts';
import type { AutoTopupRecord, HistoryLine } from './types.ts';

/** A setting that cannot be used; the message says what to change (400: the caller's fault). */
export class AutoTopupSettingsError extends FlowPilotError {
  override name = 'AutoTopupSettingsError';
  constructor(message: string) {
    super(message, { statusCode: 400 });
  }
}

/** A Checkout paid by another Stripe customer than the one on file: only the operator may. */
export class StripeCustomerMismatchError extends AutoTopupSettingsError {
  override name = 'StripeCustomerMismatchError';
}

/**
 * Who changes a customer's settings, as their history shows it: the operator
 * (`cli:<login>`), a paid Checkout FlowPilot accepted (`checkout:<session id>`), or the
 * customer on their own page (`portal`). The engine's own steps are `auto` and `webhook`.
 */
export type SettingsActor = `cli:${string}` | `checkout:${string}` | 'portal';

export interface SettingsInput {
  packageId: string;
  quantity: number;
  /** GB, decimal text. */
  belowGb: string;
  orDaysLeft?: number;
  maxPerMonth?: number;
  paymentMethod?: string;
  stripeCustomer?: string;
}

type Store = Pick<AutoTopupStore, 'get' | 'commit'>;

const GB_TEXT = /^\d{1,7}(\.\d{1,2})?$/;
const STRIPE_ID = (prefix: string) => new RegExp(`^${prefix}_[A-Za-z0-9_]{1,200}$`);

export const NO_CARD_HELP =
  'auto top-up needs a card saved for off-session use: the customer pays once through a ' +
  'Checkout Session with setup_future_usage=off_session and metadata autoTopup=<package>:<belowGb> ' +
  'that autoTopup.checkoutOptIn accepts (by default one FlowPilot created for them), or give ' +
  '--payment-method pm_… --stripe-customer cus_…. Customers paying by epay or Standard ' +
  'Webhooks cannot be charged off-session; they get the running-low notice with the payment link.';

/** The canonical id (`0088` → `88`), so that every guard and key sees one spelling. */
export function checkCustomerId(customerId: string): string {
  const id = canonicalCustomerId(customerId);
  if (id === undefined) {
    throw new AutoTopupSettingsError(
      `customer id must be digits, got ${JSON.stringify(customerId)}`,
    );
  }
  return id;
}

/** Checks the settings against the catalog and limits; the message names what is wrong. */
export function checkSettings(input: SettingsInput, payments: PaymentsConfig): void {
  if (!Object.hasOwn(payments.catalog, input.packageId)) {
    const sold = Object.keys(payments.catalog).join(', ') || 'nothing';
    throw new AutoTopupSettingsError(
      `package ${JSON.stringify(input.packageId)} is not in the catalog (sold: ${sold})`,
    );
  }
  if (!Number.isSafeInteger(input.quantity) || input.quantity < 1) {
    throw new AutoTopupSettingsError('quantity must be a whole number of at least 1');
  }
  if (input.quantity > payments.maxQuantity) {
    throw new AutoTopupSettingsError(`quantity must be at most ${payments.maxQuantity}`);
  }
  if (!GB_TEXT.test(input.belowGb) || new Decimal(input.belowGb).lte(0)) {
    throw new AutoTopupSettingsError(
      `the threshold must be a positive number of GB with at most 2 decimals, got ${JSON.stringify(input.belowGb)}`,
    );
  }
  if (
    input.orDaysLeft !== undefined &&
    (!Number.isInteger(input.orDaysLeft) || input.orDaysLeft < 0 || input.orDaysLeft > 365)
  ) {
    throw new AutoTopupSettingsError('days left must be a whole number from 0 to 365');
  }
  if (
    input.maxPerMonth !== undefined &&
    (!Number.isInteger(input.maxPerMonth) || input.maxPerMonth < 1 || input.maxPerMonth > 100)
  ) {
    throw new AutoTopupSettingsError('the monthly limit must be a whole number from 1 to 100');
  }
  if (input.paymentMethod !== undefined && !STRIPE_ID('pm').test(input.paymentMethod)) {
    throw new AutoTopupSettingsError('--payment-method must be a Stripe id such as pm_1Abc…');
  }
  if (input.stripeCustomer !== undefined && !STRIPE_ID('cus').test(input.stripeCustomer)) {
    throw new AutoTopupSettingsError('--stripe-customer must be a Stripe id such as cus_1Abc…');
  }
}

/** `gb-100:20` (package, threshold GB) or `gb-100:20:2` (… quantity), from Checkout metadata. */
export function parseOptIn(
  spec: string,
): Pick<SettingsInput, 'packageId' | 'belowGb' | 'quantity'> {
  const parts = spec.trim().split(':');
  const [packageId, belowGb, quantity] = parts;
  if (parts.length < 2 || parts.length > 3 || !packageId || !belowGb) {
    throw new AutoTopupSettingsError(
      `autoTopup must read <package>:<belowGb>[:<quantity>], got ${JSON.stringify(spec.slice(0, 80))}`,
    );
  }
  const q = quantity === undefined ? 1 : /^\d{1,6}$/.test(quantity) ? Number(quantity) : Number.NaN;
  return { packageId, belowGb, quantity: q };
}

export function describeSettings(
  s: Pick<AutoTopupRecord, 'packageId' | 'quantity' | 'belowGb' | 'orDaysLeft' | 'maxPerMonth'>,
  config: AutoTopupConfig,
): string {
  const days = s.orDaysLeft === undefined ? '' : ` or ${s.orDaysLeft} days left`;
  const max = s.maxPerMonth ?? config.defaultMaxPerMonth;
  return `${s.packageId} × ${s.quantity} when below ${formatGb(s.belowGb, 2)}${days}, at most ${max} a month`;
}

type Change = { next: AutoTopupRecord; lines: Omit<HistoryLine, 'at'>[] };

/**
 * Reads, changes and writes one customer's record, again if another writer got there first.
 * `change` answers undefined when there is nothing to write; so does `update` then.
 */
async function update(
  store: Store,
  customerId: string,
  change: (current: AutoTopupRecord | undefined) => Change,
): Promise<AutoTopupRecord>;
async function update(
  store: Store,
  customerId: string,
  change: (current: AutoTopupRecord | undefined) => Change | undefined,
): Promise<AutoTopupRecord | undefined>;
async function update(
  store: Store,
  customerId: string,
  change: (current: AutoTopupRecord | undefined) => Change | undefined,
): Promise<AutoTopupRecord | undefined> {
  for (let round = 0; round < 5; round++) {
    const current = await store.get(customerId);
    const c = change(current);
    if (!c) return undefined;
    if (await store.commit(c.next, current?.version, c.lines)) return stamped(c.next, c.lines);
  }
  throw new FlowPilotError(
    `auto top-up settings of customer ${customerId} kept changing; try again`,
  );
}

type TurnOn = SettingsInput & { customerId: string; by: SettingsActor; at: string };

/** The record with auto top-up on under `input`'s rule, and its history line. */
function turnOn(
  current: AutoTopupRecord | undefined,
  input: TurnOn,
  config: { autoTopup: AutoTopupConfig },
): Change {
  const { customerId, at } = input;
  const paymentMethod = input.paymentMethod ?? current?.paymentMethod;
  const stripeCustomer = input.stripeCustomer ?? current?.stripeCustomer;
  if (!paymentMethod) throw new AutoTopupSettingsError(`customer ${customerId}: ${NO_CARD_HELP}`);
  const next: AutoTopupRecord = {
    customerId,
    episodeSeq: 0,
    chargesInMonth: 0,
    createdAt: at,
    ...current,
    enabled: true,
    packageId: input.packageId,
    quantity: input.quantity,
    belowGb: new Decimal(input.belowGb).toFixed(),
    orDaysLeft: input.orDaysLeft,
    maxPerMonth: input.maxPerMonth,
    paymentMethod,
    stripeCustomer,
    blocked: undefined,
    // Low already, or refused and cleared above: the next run looks, the balance may not move.
    ...(current?.episode ? {} : { lookAgain: true }),
    version: (current?.version ?? 0) + 1,
    updatedAt: at,
    updatedBy: input.by,
  };
  const card =
    input.paymentMethod === undefined ? '' : `; card ${paymentMethod} of ${stripeCustomer}`;
  return {
    next,
    lines: [
      {
        by: input.by,
        event: current?.enabled ? 'settings' : 'on',
        detail: `${describeSettings(next, config.autoTopup)}${card}`,
      },
    ],
  };
}

/**
 * The agent's alert of a turn-off after declines, one per episode: each is news of its own,
 * also after an earlier one was acknowledged.
 */
export const turnedOffSubject = (customerId: string, episode: number) =>
  `autotopup:${customerId}:off:${episode}`;

/**
 * Turns auto top-up on (or changes it) for a customer, recording who did what. A card is
 * given here by the operator only: the customer's page saves one through a Checkout it
 * created (applyCheckoutOptIn), never by naming it.
 */
export async function setAutoTopup(
  store: Store,
  input: SettingsInput & { customerId: string; by: `cli:${string}` | 'portal'; now: Date },
  config: { payments: PaymentsConfig; autoTopup: AutoTopupConfig },
): Promise<AutoTopupRecord> {
  const customerId = checkCustomerId(input.customerId);
  checkSettings(input, config.payments);
  if ((input.paymentMethod === undefined) !== (input.stripeCustomer === undefined)) {
    throw new AutoTopupSettingsError(
      'give --payment-method and --stripe-customer together (a saved card belongs to a Stripe customer)',
    );
  }
  if (input.paymentMethod !== undefined && !input.by.startsWith('cli:')) {
    throw new AutoTopupSettingsError(
      'only the operator names a card; the customer saves one by paying a Checkout FlowPilot created',
    );
  }
  const on = { ...input, customerId, at: input.now.toISOString() };
  return update(store, customerId, (current) => turnOn(current, on, config));
}

export type OptInResult = 'recorded' | 'already-recorded' | 'superseded';

/**
 * A paid Checkout's opt-in, applied once and never over a later change: not when this
 * session was applied already (a redelivery, a resend from the dashboard), nor when the
 * settings changed after `paidAt` (by the operator, the customer, another Checkout, or auto
 * top-up turning itself off after declines): the later change stands. A card of another
 * Stripe customer than the one on file is refused (StripeCustomerMismatchError).
 */
export async function applyCheckoutOptIn(
  store: Store,
  input: Pick<SettingsInput, 'packageId' | 'belowGb' | 'quantity'> & {
    customerId: string;
    sessionId: string;
    paidAt: Date;
    paymentMethod: string;
    stripeCustomer: string;
    now: Date;
  },
  config: { payments: PaymentsConfig; autoTopup: AutoTopupConfig },
): Promise<OptInResult> {
  const customerId = checkCustomerId(input.customerId);
  checkSettings(input, config.payments);
  const on: TurnOn = {
    ...input,
    customerId,
    by: `checkout:${input.sessionId}`,
    at: input.now.toISOString(),
  };
  let result: OptInResult = 'recorded';
  await update(store, customerId, (current) => {
    result = optInStanding(current, input);
    if (result !== 'recorded') return undefined;
    if (current?.stripeCustomer && current.stripeCustomer !== input.stripeCustomer) {
      throw new StripeCustomerMismatchError(
        `the session was paid by Stripe customer ${input.stripeCustomer}, but customer ${customerId}'s card on file belongs to ${current.stripeCustomer}; only the operator can change it (flowpilot autotopup set … --payment-method --stripe-customer)`,
      );
    }
    const c = turnOn(current, on, config);
    return { ...c, next: { ...c.next, optInSession: input.sessionId } };
  });
  return result;
}

/**
 * Whether a Checkout's opt-in still applies to `current`: `already-recorded` when this
 * session was applied, `superseded` when the settings changed after it was paid.
 */
export function optInStanding(
  current: AutoTopupRecord | undefined,
  optIn: { sessionId: string; paidAt: Date },
): OptInResult {
  if (!current) return 'recorded';
  if (current.optInSession === optIn.sessionId) return 'already-recorded';
  // A record from before settingsChangedAt existed: its last write of any kind.
  const changedAt = Date.parse(current.settingsChangedAt ?? current.updatedAt);
  return changedAt > optIn.paidAt.getTime() ? 'superseded' : 'recorded';
}

/** Turns auto top-up off. A charge already taken is still credited; nothing new starts. */
export async function turnOffAutoTopup(
  store: Store,
  input: { customerId: string; by: SettingsActor; now: Date; reason?: string },
): Promise<AutoTopupRecord> {
  const customerId = checkCustomerId(input.customerId);
  const at = input.now.toISOString();
  return update(store, customerId, (current): Change => {
    if (!current) {
      throw new AutoTopupSettingsError(`customer ${customerId} has no auto top-up settings`);
    }
    return {
      next: {
        ...current,
        enabled: false,
        version: current.version + 1,
        updatedAt: at,
        updatedBy: input.by,
      },
      lines: [{ by: input.by, event: 'off', detail: input.reason ?? 'turned off' }],
    };
  });
}
