import { type Fields, isFields, jsonKind } from '../../json-values.ts';
import { MalformedWebhookError } from '../errors.ts';

/**
 * Typed reads of a verified payload's fields, for every provider (bench/webhook.ts measures
 * them). Minor units are whole numbers from 0 to 2^53 − 1, and a mismatch is the sender's
 * malformed event (400) naming the field.
 */

/** Printable ASCII without spaces, bounded: payment ids become ledger keys. */
export const PAYMENT_ID = /^[\x21-\x7e]{1,200}$/;
/** ISO 4217 letters, either case. */
export const CURRENCY = /^[A-Za-z]{3}$/;

function malformed(path: string, expected: string, value: unknown): never {
  throw new MalformedWebhookError('malformed event', {
    cause: new Error(`${path}: expected ${expected}, received ${jsonKind(value)}`),
  });
}

/** Reads one object's fields; `path` names it in error messages (`data.object`). */
export class FieldReader {
  constructor(
    readonly fields: Fields,
    private readonly path: string,
  ) {}

  static of(value: unknown, path: string): FieldReader {
    if (!isFields(value)) malformed(path, 'object', value);
    return new FieldReader(value, path);
  }

  private at(key: string): string {
    return `${this.path}.${key}`;
  }

  string(key: string): string {
    const v = this.fields[key];
    return typeof v === 'string' ? v : malformed(this.at(key), 'string', v);
  }

  /** Absent or null reads as undefined. */
  optionalString(key: string): string | undefined {
    const v = this.fields[key];
    return v == null ? undefined : this.string(key);
  }

  boolean(key: string): boolean {
    const v = this.fields[key];
    return typeof v === 'boolean' ? v : malformed(this.at(key), 'boolean', v);
  }

  /** A whole number from 0 to Number.MAX_SAFE_INTEGER (amounts in minor units, timestamps). */
  count(key: string): number {
    const v = this.fields[key];
    return Number.isSafeInteger(v) && (v as number) >= 0
      ? (v as number)
      : malformed(this.at(key), 'non-negative integer', v);
  }

  optionalCount(key: string): number | undefined {
    return this.fields[key] == null ? undefined : this.count(key);
  }

  /** A whole number of either sign (Stripe balance transactions: withdrawals are negative). */
  integer(key: string): number {
    const v = this.fields[key];
    return Number.isSafeInteger(v) ? (v as number) : malformed(this.at(key), 'integer', v);
  }

  paymentId(key: string): string {
    const v = this.string(key);
    return PAYMENT_ID.test(v) ? v : malformed(this.at(key), 'payment id', v);
  }

  /** A string of `min` to `max` characters. */
  text(key: string, min: number, max: number): string {
    const v = this.string(key);
    return v.length >= min && v.length <= max
      ? v
      : malformed(this.at(key), `string of ${min} to ${max} characters`, v);
  }

  /** A whole number from `min` to Number.MAX_SAFE_INTEGER; absent (not null) reads as undefined. */
  optionalWholeNumber(key: string, min: number): number | undefined {
    const v = this.fields[key];
    if (v === undefined) return undefined;
    return Number.isSafeInteger(v) && (v as number) >= min
      ? (v as number)
      : malformed(this.at(key), `integer from ${min}`, v);
  }

  /** Refuses a field not in `known`: a typo must not pass for an absent optional field. */
  only(known: ReadonlySet<string>): this {
    for (const key of Object.keys(this.fields)) {
      if (!known.has(key)) {
        throw new MalformedWebhookError('malformed event', {
          cause: new Error(`${this.at(key)}: unknown field`),
        });
      }
    }
    return this;
  }

  /** Three letters, lower-cased (`USD` → `usd`). */
  currency(key: string): string {
    const v = this.string(key);
    return CURRENCY.test(v) ? v.toLowerCase() : malformed(this.at(key), 'currency code', v);
  }

  /** An expandable reference: the id itself, or the expanded object's `id`. */
  optionalRef(key: string): string | undefined {
    const v = this.fields[key];
    if (v == null) return undefined;
    if (typeof v === 'string') return v;
    return this.object(key).string('id');
  }

  object(key: string): FieldReader {
    return FieldReader.of(this.fields[key], this.at(key));
  }

  optionalObject(key: string): FieldReader | undefined {
    return this.fields[key] == null ? undefined : this.object(key);
  }

  /** A list of objects; absent or null reads as empty. */
  optionalObjects(key: string): FieldReader[] {
    const v = this.fields[key];
    if (v == null) return [];
    if (!Array.isArray(v)) return malformed(this.at(key), 'array', v);
    return v.map((item, i) => FieldReader.of(item, `${this.at(key)}[${i}]`));
  }

  /** Stripe metadata: string values only. */
  optionalStringMap(key: string): Readonly<Record<string, string>> | undefined {
    const v = this.fields[key];
    if (v == null) return undefined;
    if (!isFields(v)) return malformed(this.at(key), 'object', v);
    for (const [k, item] of Object.entries(v)) {
      if (typeof item !== 'string') malformed(`${this.at(key)}.${k}`, 'string', item);
    }
    return v as Readonly<Record<string, string>>;
  }
}
