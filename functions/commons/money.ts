import { Decimal } from './units.ts';

interface CurrencyFormat {
  format: Intl.NumberFormat;
  /** Minor-unit digits of the currency (2 for USD, 0 for JPY, 3 for BHD). */
  digits: number;
}

// One formatter per currency: building one is most of the cost of formatting an amount, and
// the webhook formats one per delivery (bench/hot-path.perf.ts).
const formats = new Map<string, CurrencyFormat | undefined>();

/** The currency's formatter, or undefined for a code Intl does not know. */
function formatOf(code: string): CurrencyFormat | undefined {
  if (formats.has(code)) return formats.get(code);
  let entry: CurrencyFormat | undefined;
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: code });
    entry = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
  } catch {
    entry = undefined;
  }
  // Codes come from payloads: bounded so that junk codes cannot grow the cache without end.
  if (formats.size < 64) formats.set(code, entry);
  return entry;
}

/**
 * An amount in minor units (cents, fen; whole yen), as providers send it and the store keeps
 * it, written for people in major units with its currency: `$5.00`, `CN¥38.00`, `¥500`.
 * Exact: the digits come from the currency, and no binary float is involved.
 */
export function money(amountMinor: number | string, currency: string): string {
  const entry = formatOf(currency.toUpperCase());
  if (!entry) return `${amountMinor} ${currency} (minor units)`;
  const { format, digits } = entry;
  const major = new Decimal(amountMinor).div(new Decimal(10).pow(digits)).toFixed(digits);
  // Intl formats a decimal string exactly (its type only admits numbers).
  return format.format(major as unknown as number);
}
