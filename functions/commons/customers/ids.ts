import { ValidationError } from '../errors.ts';

const DIGITS = /^\d{1,20}$/;

/**
 * A customer id as balances key it: digits without leading zeros, so `088`, `88` and the
 * number 88 are one customer. Local to the customers room until a shared canonicaliser lands.
 */
export function canonicalCustomerId(value: string | number): string {
  const text = String(value).trim();
  if (!DIGITS.test(text)) throw new ValidationError(`not a customer id (digits): ${text}`);
  return text.replace(/^0+(?=\d)/, '');
}
