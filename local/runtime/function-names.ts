// Apart from functions.ts so that the scheduler can name a function without importing the invoker.

/** The functions, named as in AWS; each gets the timeout the stack gives it. */
export const FUNCTION_NAMES = [
  'poll-totals',
  'poll-usage',
  'poll-customers',
  'customer-actions',
  'reconcile',
  'payment-webhook',
  'portal',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export function isFunctionName(name: string): name is FunctionName {
  return (FUNCTION_NAMES as readonly string[]).includes(name);
}
