import { logger } from '../logger.ts';

/**
 * What auto top-up tells the customer. The customer-notices module (email, SMS, locale,
 * quiet hours) delivers these once it is wired in; until then they are logged without any
 * contact detail and kept in the customer's auto top-up history.
 */
export type AutoTopupNotice =
  /** The bank wants 3-D Secure: the customer pays once on-session through the link. */
  | { kind: 'authentication-required'; customerId: string; paymentIntentId?: string; link?: string }
  /** Declined too often: auto top-up is off until the customer or an operator turns it on. */
  | { kind: 'turned-off'; customerId: string; reason: string };

export interface AutoTopupNotices {
  send(notice: AutoTopupNotice): Promise<void>;
}

export const loggedNotices: AutoTopupNotices = {
  async send(notice) {
    logger.info('auto top-up customer notice', {
      kind: notice.kind,
      customerId: notice.customerId,
    });
  },
};
