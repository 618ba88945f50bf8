/**
 * One customer, one spelling. The upstream reads a customer id as a number (Long), so `089`,
 * `0089` and `89` are one customer; keyed as sent they would be three (three monthly caps,
 * three balances). Every id that enters FlowPilot (webhooks, CLI) goes through here first.
 */

/** At most 20 digits as sent; leading zeros are dropped. */
const DIGITS = /^\d{1,20}$/;

/** The canonical spelling (`0089` → `89`), or undefined when it is not a customer id. */
export function canonicalCustomerId(raw: unknown): string | undefined {
  let text: string;
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0) return undefined;
    text = String(raw);
  } else if (typeof raw === 'string') text = raw.trim();
  else return undefined;
  if (!DIGITS.test(text)) return undefined;
  const canonical = text.replace(/^0+/, '');
  // All zeros: no customer is 0.
  return canonical === '' ? undefined : canonical;
}
