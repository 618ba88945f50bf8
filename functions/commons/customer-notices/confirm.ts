import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError, FlowPilotError } from '../errors.ts';
import {
  boundEmail,
  type CustomerContactStore,
  maskContact,
  PENDING_EMAIL_DAYS,
} from './store/customer-contacts.ts';

/** A confirmation link works this long after it was sent (a pending address lasts as long). */
export const CONFIRM_TOKEN_DAYS = PENDING_EMAIL_DAYS;
/** PORTAL_SECRET signs the customer page's links too: every MAC here starts with this. */
const PURPOSE = 'flowpilot/confirm-contact/v1';
const MIN_SECRET_LENGTH = 32;

export type ConfirmRefusal = 'invalid' | 'expired' | 'superseded' | 'mismatch';

const REFUSALS: Record<ConfirmRefusal, string> = {
  invalid: 'This confirmation link is not valid.',
  expired: 'This confirmation link has expired; the next receipt carries a new one.',
  superseded: 'This address is no longer the one waiting to be confirmed.',
  mismatch: 'The address typed is not the one this link confirms.',
};

/** A confirmation refused; the message may be shown to whoever opened the link. */
export class ContactConfirmError extends FlowPilotError {
  override name = 'ContactConfirmError';
  readonly reason: ConfirmRefusal;

  constructor(reason: ConfirmRefusal, options: { cause?: unknown } = {}) {
    const statusCode = reason === 'invalid' || reason === 'mismatch' ? 400 : 410;
    super(REFUSALS[reason], { ...options, statusCode });
    this.reason = reason;
  }
}

export interface ConfirmedContact {
  customerId: string;
  /** Masked, for the page to show (`a***@example.net`). */
  email: string;
  /** Confirmed by an earlier click of the same link. */
  already: boolean;
  /** The address notices went to until now, when this confirmation replaced it: told so. */
  previous?: string;
}

/** What a confirmation link would bind, for the page to show before anyone confirms it. */
export interface ConfirmShown {
  /** Masked (`a***@example.net`). */
  email: string;
  /**
   * `page`: the customer asked for it on their page; `payment`: whoever paid `order` typed it
   * at Checkout (it must be typed again in full to confirm); `bound`: already theirs.
   */
  source: 'page' | 'payment' | 'bound';
  order?: string;
  /** When it was asked for or captured (ISO). */
  at?: string;
}

/** The secret's keys, newest first (`new old` while rotating): the first signs, all verify. */
function keysOf(secret: string): [string, ...string[]] {
  const keys = secret.split(/\s+/).filter(Boolean);
  const [first, ...rest] = keys;
  if (!first || keys.some((k) => k.length < MIN_SECRET_LENGTH)) {
    throw new ConfigError(
      `every PORTAL_SECRET key must be at least ${MIN_SECRET_LENGTH} characters`,
    );
  }
  return [first, ...rest];
}

const mac = (secret: string, text: string) =>
  createHmac('sha256', secret).update(`${PURPOSE}\n${text}`).digest('base64url');

/** Names the address without carrying it: the link (and any log of it) holds no email. */
const addressDigest = (secret: string, email: string) =>
  mac(secret, `address\n${email}`).slice(0, 22);

/**
 * `<customerId>.<expiry, epoch s>.<address digest>.<HMAC-SHA256>`, URL-safe. It proves that
 * FlowPilot sent this address a receipt for this customer; it confirms nothing on its own
 * (confirmContact also wants that customer's own page session).
 */
export function signConfirmToken(
  secret: string,
  customerId: string,
  email: string,
  now: Date,
): string {
  const [key] = keysOf(secret);
  const expiry = Math.floor(now.getTime() / 1000) + CONFIRM_TOKEN_DAYS * 86_400;
  const payload = `${customerId}.${expiry}.${addressDigest(key, email)}`;
  return `${payload}.${mac(key, payload)}`;
}

/**
 * The token's customer, and whether an address is the one it names; or a ContactConfirmError.
 */
export function verifyConfirmToken(
  secret: string,
  token: string,
  now: Date,
): { customerId: string; names: (email: string) => boolean } {
  const m = /^([1-9]\d{0,19})\.(\d{1,12})\.([\w-]{22})\.([\w-]{43})$/.exec(token);
  if (!m) throw new ContactConfirmError('invalid');
  const [, customerId = '', expiry = '', digest = '', sig = ''] = m;
  const given = Buffer.from(sig);
  const key = keysOf(secret).find((k) =>
    timingSafeEqual(Buffer.from(mac(k, `${customerId}.${expiry}.${digest}`)), given),
  );
  if (!key) throw new ContactConfirmError('invalid');
  if (Number(expiry) * 1000 < now.getTime()) throw new ContactConfirmError('expired');
  return { customerId, names: (email) => addressDigest(key, email) === digest };
}

/** The token's address among the customer's, after the same checks as confirmContact. */
export async function describeConfirm(
  token: string,
  sessionCustomerId: string,
  deps: ConfirmDeps,
): Promise<ConfirmShown> {
  const now = (deps.clock ?? (() => new Date()))();
  const { customerId, names } = verifyConfirmToken(await deps.secret(), token, now);
  if (customerId !== sessionCustomerId) throw new ContactConfirmError('invalid');
  const contact = await deps.contacts.get(customerId);
  const same = (email: string | undefined): email is string => email !== undefined && names(email);
  if (!contact) throw new ContactConfirmError('superseded');
  if (same(contact.pendingEmail)) {
    const at = contact.pendingAt;
    return { email: maskContact(contact.pendingEmail), source: 'page', ...(at ? { at } : {}) };
  }
  const bound = [contact.confirmedEmail, boundEmail(contact)].find(same);
  if (bound) return { email: maskContact(bound), source: 'bound' };
  const email = contact.paymentEmail;
  if (!same(email)) throw new ContactConfirmError('superseded');
  // The payment that captured it: the latest capture of this address.
  const [order, capture] =
    Object.entries(contact.captures)
      .filter(([, c]) => c.email === email)
      .sort(([, a], [, b]) => b.at.localeCompare(a.at))[0] ?? [];
  const at = capture?.at ?? contact.paymentAt;
  return {
    email: maskContact(email),
    source: 'payment',
    ...(order ? { order } : {}),
    ...(at ? { at } : {}),
  };
}

export interface ConfirmDeps {
  contacts: Pick<CustomerContactStore, 'get' | 'confirmEmail' | 'applyEmailChange'>;
  /** PORTAL_SECRET's value. */
  secret: () => Promise<string>;
  clock?: () => Date;
}

/**
 * The customer opened the link in a receipt on their own customer page: the email captured
 * from their payment becomes theirs, and gets every notice from now on. The token proves the
 * address received the receipt; `sessionCustomerId` (the customer whose signed link opened
 * the page) proves it is the customer: a payer who named their own address for someone
 * else's id holds the first but not the second. An address the customer asked for on the page
 * (pending) replaces the one in use. A captured one only if it is still the captured address and
 * no other address was confirmed meanwhile (a confirmed address is never replaced this way;
 * the operator's always wins). Clicking twice is fine.
 *
 * A captured address also needs `typed`, the address typed in full on the page: a payer who
 * gets the customer to open the link and click cannot make them type the payer's address.
 */
export async function confirmContact(
  token: string,
  sessionCustomerId: string,
  deps: ConfirmDeps,
  typed?: string,
): Promise<ConfirmedContact> {
  const now = (deps.clock ?? (() => new Date()))();
  const secret = await deps.secret();
  const { customerId, names } = verifyConfirmToken(secret, token, now);
  if (customerId !== sessionCustomerId) throw new ContactConfirmError('invalid');
  const contact = await deps.contacts.get(customerId);
  const same = (email: string | undefined): email is string => email !== undefined && names(email);
  // The address the customer asked for on their page: it replaces the one in use.
  const before = contact && boundEmail(contact);
  const replaced = (now: string) => (before && before !== now ? { previous: before } : {});
  const pending = contact?.pendingEmail;
  if (same(pending) && (await deps.contacts.applyEmailChange(customerId, pending, now))) {
    return { customerId, email: maskContact(pending), already: false, ...replaced(pending) };
  }
  const already = [contact?.confirmedEmail, contact && boundEmail(contact)].find(same);
  if (already) return { customerId, email: maskContact(already), already: true };
  const email = contact?.paymentEmail;
  // Another address was confirmed meanwhile: never replaced this way, typed or not.
  const other = contact?.confirmedEmail !== undefined && contact.confirmedEmail !== email;
  if (!same(email) || other) throw new ContactConfirmError('superseded');
  if (typed?.trim().toLowerCase() !== email.toLowerCase()) {
    throw new ContactConfirmError('mismatch');
  }
  if (!(await deps.contacts.confirmEmail(customerId, email, now))) {
    throw new ContactConfirmError('superseded');
  }
  // The operator's address, if any, still wins over a confirmed one.
  const after = contact?.email ?? email;
  return { customerId, email: maskContact(email), already: false, ...replaced(after) };
}

/** The link a receipt carries: `template` with `{token}` substituted. */
export function confirmLinkFor(
  template: string,
  secret: string,
  customerId: string,
  email: string,
  now: Date,
): string {
  return template.replaceAll('{token}', signConfirmToken(secret, customerId, email, now));
}
