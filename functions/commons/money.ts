import { Decimal } from './units.ts';

/**
 * An amount in minor units (cents, fen; whole yen), as providers send it and the store keeps
 * it, written for people in major units with its currency: `$5.00`, `CN¥38.00`, `¥500`.
 * Exact: the digits come from the currency, and no binary float is involved.
 */
export function money(amountMinor: number | string, currency: string): string {
  const code = currency.toUpperCase();
  let format: Intl.NumberFormat;
  try {
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency: code });
  } catch {
    return `${amountMinor} ${currency} (minor units)`;
  }
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  const major = new Decimal(amountMinor).div(new Decimal(10).pow(digits)).toFixed(digits);
  // Intl formats a decimal string exactly (its type only admits numbers).
  return format.format(major as unknown as number);
}
