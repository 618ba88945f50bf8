import { Decimal } from './units.ts';

// Building an Intl.NumberFormat costs ~100 µs; the webhook formats an amount per delivery.
const formats = new Map<string, Intl.NumberFormat | undefined>();

/** The currency's formatter, or undefined for a code Intl does not know. */
function formatOf(code: string): Intl.NumberFormat | undefined {
  if (formats.has(code)) return formats.get(code);
  let format: Intl.NumberFormat | undefined;
  try {
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency: code });
  } catch {
    format = undefined;
  }
  // Codes come from payloads: bounded so that junk codes cannot grow the cache without end.
  if (formats.size < 64) formats.set(code, format);
  return format;
}

/**
 * An amount in minor units (cents, fen; whole yen), as providers send it and the store keeps
 * it, written for people in major units with its currency: `$5.00`, `CN¥38.00`, `¥500`.
 * Exact: the digits come from the currency, and no binary float is involved.
 */
export function money(amountMinor: number | string, currency: string): string {
  const format = formatOf(currency.toUpperCase());
  if (!format) return `${amountMinor} ${currency} (minor units)`;
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  const major = new Decimal(amountMinor).div(new Decimal(10).pow(digits)).toFixed(digits);
  // Intl formats a decimal string exactly (its type only admits numbers).
  return format.format(major as unknown as number);
}
