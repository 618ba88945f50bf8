import { getOptionalStringFromEnv } from '../env.ts';
import { ConfigError } from '../errors.ts';

/**
 * `aws`: email by SES, SMS by SNS (the stack sets it). `print` (the default, the local
 * runtime): printed to the console; the outbox is kept either way.
 */
export const NOTICE_DELIVERY_ENV = 'CUSTOMER_NOTICES_DELIVERY';
export type NoticeDelivery = 'aws' | 'print';

export function noticeDelivery(env: NodeJS.ProcessEnv = process.env): NoticeDelivery {
  const value = getOptionalStringFromEnv(NOTICE_DELIVERY_ENV, env) ?? 'print';
  if (value !== 'aws' && value !== 'print') {
    throw new ConfigError(
      `${NOTICE_DELIVERY_ENV} must be aws or print, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
