import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type NativeAttributeValue,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { NOTICE_LOCALES, type NoticeLocale } from '../../config/notice-locales.ts';
import { ValidationError } from '../../errors.ts';
import { runLimited } from '../../store/batch.ts';
import { StoreError, storeCall } from '../../store/errors.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import { expiresAt, type KeyPrefix } from '../../store/values.ts';
import { assertTimeZone } from '../../units.ts';

export const KEY_PREFIXES = [
  { pk: 'CUSTOMER#', sk: 'CONTACT' },
] as const satisfies readonly KeyPrefix[];

type Item = Record<string, NativeAttributeValue>;

/** Per-customer overrides of the running-low triggers (0 turns one off). */
export interface ThresholdOverrides {
  gb?: number;
  percentOfLastTopUp?: number;
  daysLeft?: number;
}

/**
 * A contact is kept this long after its last change (operator edit, payment, confirmation)
 * or the customer's last top-up receipt; DynamoDB's TTL then deletes it.
 */
export const CONTACT_RETENTION_DAYS = 730;

/**
 * An address asked for on the page waits this long for its confirmation link to be used (the
 * link's own lifetime, CONFIRM_TOKEN_DAYS); after that it is ignored and the next write drops it.
 */
export const PENDING_EMAIL_DAYS = 14;

/** Pending addresses asked for before this instant have lapsed (ISO strings compare in order). */
const pendingSince = (now: Date) =>
  new Date(now.getTime() - PENDING_EMAIL_DAYS * 86_400_000).toISOString();

/** A payment's captured address waits this long for that payment's receipt (48 h, with room). */
export const CAPTURE_RETENTION_DAYS = 7;

/** What one payment named, kept for that payment's own receipt. */
export interface PaymentCapture {
  email?: string;
  phone?: string;
  at: string;
}

/**
 * How to reach one customer. An address is bound to the customer by the operator (CLI) or
 * by the customer confirming it; one captured from a payment is only what a payer typed,
 * kept apart, never over a bound one, and good for receipts only until confirmed. A
 * payment never touches the opt-out. Payers' names are not kept.
 */
export interface CustomerContact {
  customerId: string;
  email?: string;
  phone?: string;
  name?: string;
  /** A captured email the customer confirmed through the link in a receipt. */
  confirmedEmail?: string;
  confirmedAt?: string;
  /** Captured from the customer's latest payment that carried them; unconfirmed. */
  paymentEmail?: string;
  paymentPhone?: string;
  paymentAt?: string;
  /**
   * Each recent payment's captured address by its order key (the ledger's, as in a credit's
   * `orderId`): a payer is sent the receipt of their own payment only.
   */
  captures: Record<string, PaymentCapture>;
  /** An address the customer asked for on their page; used only once confirmed. */
  pendingEmail?: string;
  pendingAt?: string;
  locale?: NoticeLocale;
  timeZone?: string;
  /** False once the operator turned every notice off. @default true */
  notices: boolean;
  /** Reminders (running low, used up) per channel; receipts go whatever these say. */
  reminders: Reminders;
  lowThresholds: ThresholdOverrides;
  updatedAt?: string;
}

/** The customer's own choice of reminders per channel; both on unless turned off. */
export interface Reminders {
  email: boolean;
  sms: boolean;
}

/** What a payment said about its payer; anything unusable is dropped, never an error. */
export interface PaymentContact {
  email?: string;
  phone?: string;
}

/** What the operator sets with `flowpilot customer contact`. */
export interface ContactEdit {
  email?: string;
  phone?: string;
  name?: string;
  locale?: NoticeLocale;
  timeZone?: string;
  notices?: boolean;
  reminders?: Partial<Reminders>;
  lowThresholds?: { [K in keyof ThresholdOverrides]?: number | null };
}

// zod's email pattern, without zod: the balance poll's bundle stays free of it.
const EMAIL =
  /^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/;

/** Canonical decimal customer id (no leading zeros), or a ValidationError. */
export function canonicalCustomerId(value: string): string {
  const text = value.trim();
  if (!/^\d{1,20}$/.test(text)) {
    throw new ValidationError(`customer id must be a decimal number, got ${JSON.stringify(value)}`);
  }
  return BigInt(text).toString();
}

/** Trimmed, domain lower-cased email, or a ValidationError (the address is not echoed). */
export function normaliseEmail(value: string): string {
  const text = value.trim();
  const at = text.lastIndexOf('@');
  const email = at > 0 ? `${text.slice(0, at)}@${text.slice(at + 1).toLowerCase()}` : text;
  if (email.length > 254 || !EMAIL.test(email)) {
    throw new ValidationError('email must be an address like name@example.com');
  }
  return email;
}

/** E.164 (`+` and 7-15 digits) once spaces, dots, dashes and brackets are removed. */
export function normalisePhone(value: string): string {
  const phone = value.replace(/[\s().-]/g, '');
  if (!/^\+[1-9]\d{6,14}$/.test(phone)) {
    throw new ValidationError('phone must be an E.164 number like +8613800138000');
  }
  return phone;
}

/** `zh`, `zh_CN`, `zh-Hans`… read as zh-CN, `en-GB`… as en; anything else is refused. */
export function normaliseLocale(value: string): NoticeLocale {
  const tag = value.trim().replace('_', '-').toLowerCase();
  if (tag === 'zh' || tag === 'zh-cn' || tag === 'zh-hans' || tag === 'zh-hans-cn') return 'zh-CN';
  if (tag === 'en' || tag.startsWith('en-')) return 'en';
  throw new ValidationError(
    `locale must be one of ${NOTICE_LOCALES.join(', ')}, got ${JSON.stringify(value)}`,
  );
}

/** Shows enough of an address or number to recognise it, never all of it. */
export function maskContact(value: string | undefined): string {
  if (!value) return '-';
  const at = value.lastIndexOf('@');
  if (at > 0) return `${value.slice(0, 1)}***@${value.slice(at + 1)}`;
  return value.length > 4 ? `${value.slice(0, 3)}***${value.slice(-2)}` : '***';
}

/** The address the customer asked for on the page, while its confirmation link still works. */
export function pendingEmailOf(c: CustomerContact, now: Date): string | undefined {
  return c.pendingAt !== undefined && c.pendingAt >= pendingSince(now) ? c.pendingEmail : undefined;
}

/** An address bound to the customer: the operator's, else one the customer confirmed. */
export function boundEmail(c: CustomerContact): string | undefined {
  return c.email ?? c.confirmedEmail;
}

/** An address and whether it is bound to the customer (else only a payer typed it). */
export interface NoticeAddress {
  to: string;
  bound: boolean;
}

/**
 * Where a notice goes. A bound address gets every notice. An address only captured from a
 * payment (a payer may type anyone's customer id) gets the receipt of that payment alone
 * (`receiptOf`, the credit's order key), and only while nothing is bound on that channel.
 */
export function noticeAddresses(
  c: CustomerContact,
  receiptOf: string | undefined,
): { email?: NoticeAddress; phone?: NoticeAddress } {
  const captured = receiptOf === undefined ? undefined : c.captures[receiptOf];
  const pick = (bound: string | undefined, payer: string | undefined) =>
    bound ? { to: bound, bound: true } : payer ? { to: payer, bound: false } : undefined;
  const email = pick(boundEmail(c), captured?.email);
  const phone = pick(c.phone, captured?.phone);
  return { ...(email ? { email } : {}), ...(phone ? { phone } : {}) };
}

/** The captured email a receipt may ask the customer to confirm: one, when nothing is bound. */
export function unconfirmedEmail(c: CustomerContact): string | undefined {
  return boundEmail(c) === undefined ? c.paymentEmail : undefined;
}

const keyOf = (customerId: string) => ({ pk: `CUSTOMER#${customerId}`, sk: 'CONTACT' });

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

function fromItem(item: Item): CustomerContact {
  const out: CustomerContact = {
    customerId: String(item.customerId),
    notices: item.notices !== false,
    reminders: { email: item.remindEmail !== false, sms: item.remindSms !== false },
    captures: capturesOf(item.captures),
    lowThresholds: {},
  };
  for (const k of [
    'email',
    'phone',
    'name',
    'confirmedEmail',
    'confirmedAt',
    'paymentEmail',
    'paymentPhone',
    'paymentAt',
    'pendingEmail',
    'pendingAt',
    'timeZone',
    'updatedAt',
  ] as const) {
    const v = str(item[k]);
    if (v !== undefined) out[k] = v;
  }
  const locale = str(item.locale);
  if (locale && (NOTICE_LOCALES as readonly string[]).includes(locale)) {
    out.locale = locale as NoticeLocale;
  }
  const gb = num(item.lowGb);
  const pct = num(item.lowPercent);
  const days = num(item.lowDaysLeft);
  if (gb !== undefined) out.lowThresholds.gb = gb;
  if (pct !== undefined) out.lowThresholds.percentOfLastTopUp = pct;
  if (days !== undefined) out.lowThresholds.daysLeft = days;
  return out;
}

function capturesOf(value: unknown): Record<string, PaymentCapture> {
  const out: Record<string, PaymentCapture> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [order, v] of Object.entries(value as Record<string, Item>)) {
    const at = str(v?.at);
    if (!at) continue;
    const email = str(v.email);
    const phone = str(v.phone);
    out[order] = { at, ...(email ? { email } : {}), ...(phone ? { phone } : {}) };
  }
  return out;
}

/** Tries of a payment's capture while other writers keep changing the contact. */
const CAPTURE_ATTEMPTS = 4;

/**
 * The one update that keeps a payment's capture, built on what the item held (`old`, from a
 * refused try; undefined: guess it has no capture yet). Its condition is what it was built
 * on, so a writer in between makes it fail and be built again.
 */
function captureUpdate(
  customerId: string,
  order: string,
  capture: PaymentCapture,
  old: Item | undefined,
): { command: Omit<UpdateCommandInput, 'TableName' | 'Key'>; latest: boolean } {
  const names: Record<string, string> = {};
  const values: Item = { ':id': customerId, ':entity': 'customer-contact', ':capture': capture };
  const set = ['customerId = :id', 'entity = :entity'];
  const remove: string[] = [];
  const conditions: string[] = [];
  if (old?.captures === undefined) {
    set.push('captures = :captures');
    values[':captures'] = { [order]: capture };
    delete values[':capture'];
    conditions.push('attribute_not_exists(captures)');
  } else {
    names['#order'] = order;
    set.push('captures.#order = :capture');
    conditions.push('attribute_exists(captures)');
    const oldest = Date.parse(capture.at) - CAPTURE_RETENTION_DAYS * 86_400_000;
    Object.entries(capturesOf(old.captures))
      .filter(([key, c]) => key !== order && Date.parse(c.at) < oldest)
      .forEach(([key], i) => {
        names[`#s${i}`] = key;
        remove.push(`captures.#s${i}`);
      });
  }
  const oldAt = str(old?.paymentAt);
  // Newest payment wins the latest address; an older one only keeps its own capture.
  const latest = oldAt === undefined || oldAt <= capture.at;
  if (latest) {
    values[':at'] = capture.at;
    values[':ttl'] = expiresAt(new Date(capture.at), CONTACT_RETENTION_DAYS);
    names['#ttl'] = TABLE_DEFINITION.ttlAttribute;
    set.push('paymentAt = :at', 'updatedAt = :at', '#ttl = :ttl');
    if (capture.email) {
      values[':email'] = capture.email;
      set.push('paymentEmail = :email');
    }
    if (capture.phone) {
      values[':phone'] = capture.phone;
      set.push('paymentPhone = :phone');
    }
    conditions.push('(attribute_not_exists(paymentAt) OR paymentAt <= :at)');
  } else {
    values[':oldAt'] = oldAt;
    conditions.push('paymentAt = :oldAt');
  }
  return {
    command: {
      UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      ConditionExpression: conditions.join(' AND '),
      ...(Object.keys(names).length > 0 && { ExpressionAttributeNames: names }),
      ExpressionAttributeValues: values,
    },
    latest,
  };
}

/** Everything a contact item holds about the customer; `paymentName` from earlier versions. */
const ERASED_ATTRIBUTES = [
  'email',
  'phone',
  'name',
  'confirmedEmail',
  'confirmedAt',
  'paymentEmail',
  'paymentPhone',
  'paymentName',
  'paymentAt',
  'captures',
  'pendingEmail',
  'pendingAt',
  'locale',
  'timeZone',
  'notices',
  'remindEmail',
  'remindSms',
  'lowGb',
  'lowPercent',
  'lowDaysLeft',
  'updatedAt',
] as const;

const THRESHOLD_ATTRIBUTES = {
  gb: 'lowGb',
  percentOfLastTopUp: 'lowPercent',
  daysLeft: 'lowDaysLeft',
} as const;

/**
 * Contacts in the single table: `CUSTOMER#<id>` / `CONTACT`. Contact details live only
 * here and in the outbox; callers log masked values (maskContact) at most.
 */
export class CustomerContactStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#tableName = tableName;
  }

  async get(customerId: string): Promise<CustomerContact | undefined> {
    const { Item } = await storeCall('contacts.get', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          ConsistentRead: true,
        }),
      ),
    );
    return Item ? fromItem(Item) : undefined;
  }

  /** Contacts of many customers, 100 keys per BatchGetItem; missing ones are absent. */
  async getMany(customerIds: readonly string[]): Promise<Map<string, CustomerContact>> {
    const items = await batchGetAll(
      this.#doc,
      this.#tableName,
      customerIds.map(keyOf),
      'contacts.getMany',
    );
    return new Map(items.map((item) => [String(item.customerId), fromItem(item)]));
  }

  /** Applies the operator's edit; fields not named are left as they are. */
  async edit(customerId: string, edit: ContactEdit, now: Date): Promise<CustomerContact> {
    const set: string[] = [
      'customerId = :id',
      'entity = :entity',
      'updatedAt = :now',
      '#ttl = :ttl',
    ];
    const remove: string[] = [];
    const values: Item = {
      ':id': customerId,
      ':entity': 'customer-contact',
      ':now': now.toISOString(),
      ':ttl': expiresAt(now, CONTACT_RETENTION_DAYS),
    };
    const names: Record<string, string> = { '#ttl': TABLE_DEFINITION.ttlAttribute };
    const assign = (attr: string, value: NativeAttributeValue) => {
      names[`#${attr}`] = attr;
      values[`:${attr}`] = value;
      set.push(`#${attr} = :${attr}`);
    };
    if (edit.email !== undefined) assign('email', normaliseEmail(edit.email));
    if (edit.phone !== undefined) assign('phone', normalisePhone(edit.phone));
    if (edit.name !== undefined) assign('name', edit.name.trim().slice(0, 100));
    if (edit.locale !== undefined) assign('locale', edit.locale);
    if (edit.timeZone !== undefined) {
      assertTimeZone(edit.timeZone);
      assign('timeZone', edit.timeZone);
    }
    if (edit.notices !== undefined) assign('notices', edit.notices);
    if (edit.reminders?.email !== undefined) assign('remindEmail', edit.reminders.email);
    if (edit.reminders?.sms !== undefined) assign('remindSms', edit.reminders.sms);
    for (const [key, attr] of Object.entries(THRESHOLD_ATTRIBUTES)) {
      const v = edit.lowThresholds?.[key as keyof ThresholdOverrides];
      if (v === null) {
        names[`#${attr}`] = attr;
        remove.push(`#${attr}`);
      } else if (v !== undefined) {
        assign(attr, v);
      }
    }
    const { Attributes } = await storeCall('contacts.edit', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    if (!Attributes) throw new StoreError('contacts.edit returned nothing', 'contacts.edit');
    const saved = fromItem(Attributes);
    if (saved.pendingEmail === undefined || pendingEmailOf(saved, now)) return saved;
    await this.#dropLapsedPending(customerId, now);
    const { pendingEmail: _, pendingAt: __, ...rest } = saved;
    return rest;
  }

  /** Removes a pending address whose link has lapsed (a newer request in between stays). */
  async #dropLapsedPending(customerId: string, now: Date): Promise<void> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression: 'REMOVE pendingEmail, pendingAt',
          ConditionExpression: 'pendingAt < :since',
          ExpressionAttributeValues: { ':since': pendingSince(now) },
        }),
      );
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return;
      throw new StoreError('DynamoDB contacts.edit failed', 'contacts.edit', { cause });
    }
  }

  /**
   * Keeps what a payment said about its payer, apart from the bound addresses (which it never
   * touches, nor the opt-out): under the payment's order key for its own receipt, and as the
   * latest captured address (the one a receipt may ask to confirm), which only a newer
   * payment replaces. Returns what was kept as the latest.
   *
   * One update when the customer has no capture yet (the map is created with this one);
   * else the refused first try returns the item, and one more update adds this capture,
   * drops those past their retention and, when this payment is the newest, the latest.
   */
  async capture(
    customerId: string,
    contact: PaymentContact,
    at: Date,
    order: string,
  ): Promise<{ email: boolean; phone: boolean }> {
    const attempt = (fn: () => string): string | undefined => {
      try {
        return fn();
      } catch (err) {
        if (err instanceof ValidationError) return undefined;
        throw err;
      }
    };
    const email = contact.email ? attempt(() => normaliseEmail(contact.email ?? '')) : undefined;
    const phone = contact.phone ? attempt(() => normalisePhone(contact.phone ?? '')) : undefined;
    if (!email && !phone) return { email: false, phone: false };
    const capture: PaymentCapture = {
      at: at.toISOString(),
      ...(email ? { email } : {}),
      ...(phone ? { phone } : {}),
    };
    // What the item held when a try was refused; none known before the first.
    let old: Item | undefined;
    for (let n = 0; n < CAPTURE_ATTEMPTS; n++) {
      const update = captureUpdate(customerId, order, capture, old);
      try {
        await this.#doc.send(
          new UpdateCommand({
            TableName: this.#tableName,
            Key: keyOf(customerId),
            ...update.command,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return update.latest
          ? { email: email !== undefined, phone: phone !== undefined }
          : { email: false, phone: false };
      } catch (cause) {
        if ((cause as Error).name !== 'ConditionalCheckFailedException') {
          throw new StoreError('DynamoDB contacts.capture failed', 'contacts.capture', { cause });
        }
        const raw = (cause as { Item?: Record<string, AttributeValue> }).Item;
        old = raw ? unmarshall(raw) : {};
      }
    }
    throw new StoreError(
      `customer ${customerId}'s contact kept changing under ${CAPTURE_ATTEMPTS} attempts`,
      'contacts.capture',
      { retryable: true },
    );
  }

  /**
   * Binds the captured email `email` to the customer, as the customer confirmed it: only
   * while it is still the captured one and no other confirmed email is there (a confirmed
   * address is never replaced this way). False when that no longer holds.
   */
  async confirmEmail(customerId: string, email: string, at: Date): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression:
            'SET confirmedEmail = :email, confirmedAt = :at, updatedAt = :at, #ttl = :ttl',
          ConditionExpression:
            'paymentEmail = :email AND (attribute_not_exists(confirmedEmail) OR confirmedEmail = :email)',
          ExpressionAttributeNames: { '#ttl': TABLE_DEFINITION.ttlAttribute },
          ExpressionAttributeValues: {
            ':email': email,
            ':at': at.toISOString(),
            ':ttl': expiresAt(at, CONTACT_RETENTION_DAYS),
          },
        }),
      );
      return true;
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return false;
      throw new StoreError('DynamoDB contacts.confirmEmail failed', 'contacts.confirmEmail', {
        cause,
      });
    }
  }

  /**
   * The customer asked on their page for `email` to be their address: kept as pending (the
   * bound address stays in use) until the link sent to it confirms it. A newer request
   * replaces an older one. Answers the address as stored.
   */
  async requestEmail(customerId: string, email: string, at: Date): Promise<string> {
    const address = normaliseEmail(email);
    await storeCall('contacts.requestEmail', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression:
            'SET customerId = :id, entity = :entity, pendingEmail = :email, pendingAt = :at, updatedAt = :at, #ttl = :ttl',
          ExpressionAttributeNames: { '#ttl': TABLE_DEFINITION.ttlAttribute },
          ExpressionAttributeValues: {
            ':id': customerId,
            ':entity': 'customer-contact',
            ':email': address,
            ':at': at.toISOString(),
            ':ttl': expiresAt(at, CONTACT_RETENTION_DAYS),
          },
        }),
      ),
    );
    return address;
  }

  /**
   * The customer confirmed the address they asked for: it becomes their address (as if the
   * operator had set it), only while it is still the pending one. False when it is not.
   */
  async applyEmailChange(customerId: string, email: string, at: Date): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression:
            'SET email = :email, updatedAt = :at, #ttl = :ttl REMOVE pendingEmail, pendingAt',
          // A lapsed pending address is not applied, whatever link is shown for it.
          ConditionExpression: 'pendingEmail = :email AND pendingAt >= :since',
          ExpressionAttributeNames: { '#ttl': TABLE_DEFINITION.ttlAttribute },
          ExpressionAttributeValues: {
            ':email': email,
            ':at': at.toISOString(),
            ':since': pendingSince(at),
            ':ttl': expiresAt(at, CONTACT_RETENTION_DAYS),
          },
        }),
      );
      return true;
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return false;
      throw new StoreError(
        'DynamoDB contacts.applyEmailChange failed',
        'contacts.applyEmailChange',
        {
          cause,
        },
      );
    }
  }

  /**
   * Erasure: every detail of the contact (addresses, name, locale, zone, opt-out, overrides,
   * and those of earlier versions) is removed at once; the empty record left expires by TTL.
   * False when there was nothing to remove.
   */
  async erase(customerId: string, now: Date): Promise<boolean> {
    try {
      const { Attributes } = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression: `SET erasedAt = :now, #ttl = :ttl REMOVE ${ERASED_ATTRIBUTES.map((_, i) => `#a${i}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: {
            '#ttl': TABLE_DEFINITION.ttlAttribute,
            ...Object.fromEntries(ERASED_ATTRIBUTES.map((a, i) => [`#a${i}`, a])),
          },
          ExpressionAttributeValues: {
            ':now': now.toISOString(),
            ':ttl': Math.floor(now.getTime() / 1000),
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return ERASED_ATTRIBUTES.some((a) => Attributes?.[a] !== undefined);
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return false;
      throw new StoreError('DynamoDB contacts.erase failed', 'contacts.erase', { cause });
    }
  }

  /** A receipt went out: the customer is active, so the contact is kept longer. */
  async touch(customerId: string, at: Date): Promise<void> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(customerId),
          UpdateExpression: 'SET #ttl = :ttl',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#ttl': TABLE_DEFINITION.ttlAttribute },
          ExpressionAttributeValues: { ':ttl': expiresAt(at, CONTACT_RETENTION_DAYS) },
        }),
      );
    } catch (cause) {
      // Forgotten meanwhile: nothing to keep.
      if ((cause as Error).name === 'ConditionalCheckFailedException') return;
      throw new StoreError('DynamoDB contacts.touch failed', 'contacts.touch', { cause });
    }
  }
}

const BATCH_GET_SIZE = 100;
const BATCH_GET_CONCURRENCY = 4;

/**
 * Every item of `keys` that exists, 100 keys per BatchGetItem, unprocessed keys asked again
 * (with a short backoff) up to 8 times.
 */
export async function batchGetAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Item[],
  operation: string,
): Promise<Item[]> {
  const out: Item[] = [];
  const chunks: Item[][] = [];
  for (let i = 0; i < keys.length; i += BATCH_GET_SIZE)
    chunks.push(keys.slice(i, i + BATCH_GET_SIZE));
  await runLimited(chunks, BATCH_GET_CONCURRENCY, async (chunk) => {
    let pending = chunk;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 8) {
        throw new StoreError(`DynamoDB ${operation}: keys unprocessed`, operation, {
          retryable: true,
        });
      }
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 25 * 2 ** attempt));
      const keysNow = pending;
      const res = await storeCall(operation, () =>
        doc.send(
          new BatchGetCommand({
            RequestItems: { [tableName]: { Keys: keysNow, ConsistentRead: true } },
          }),
        ),
      );
      out.push(...(res.Responses?.[tableName] ?? []));
      pending = (res.UnprocessedKeys?.[tableName]?.Keys ?? []) as Item[];
    }
  });
  return out;
}
