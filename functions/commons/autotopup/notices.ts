import type { OneOffNotice } from '../customer-notices/listener.ts';
import { logger } from '../logger.ts';

/** What auto top-up tells the customer; the agent is told through the alerts. */
export type AutoTopupNotice =
  /** The bank wants 3-D Secure: the customer pays once on-session through the link. */
  | {
      kind: 'authentication-required';
      customerId: string;
      episode?: number;
      paymentIntentId?: string;
      link?: string;
    }
  /** Declined too often: auto top-up is off until the customer or an operator turns it on. */
  | { kind: 'turned-off'; customerId: string; episode?: number; reason: string };

export interface AutoTopupNotices {
  send(notice: AutoTopupNotice): Promise<void>;
}

/** The customer-notices side this needs: one notice, delivered once per id. */
export interface OneOffNoticeSender {
  sendOnce(notice: OneOffNotice): Promise<unknown>;
}

/** Same customer, kind and episode (and PaymentIntent) is the same notice, sent once. */
export function oneOffNotice(n: AutoTopupNotice): OneOffNotice {
  const episode = n.episode ?? 0;
  if (n.kind === 'authentication-required') {
    return {
      kind: 'autotopup-authentication',
      customerId: n.customerId,
      noticeId: `autotopup-authentication#${episode}#${n.paymentIntentId ?? '-'}`,
      ...(n.link ? { link: n.link } : {}),
    };
  }
  return { kind: 'autotopup-off', customerId: n.customerId, noticeId: `autotopup-off#${episode}` };
}

/**
 * Auto top-up notices through the customer notices (contact, opt-out, locale, email and SMS
 * with quiet hours, the outbox). A failure to record one is logged, not thrown: the charge
 * step it follows is already written and must not be repeated for it.
 */
export function customerAutoTopupNotices(sender: OneOffNoticeSender): AutoTopupNotices {
  return {
    async send(notice) {
      try {
        await sender.sendOnce(oneOffNotice(notice));
      } catch (err) {
        logger.error('auto top-up customer notice not recorded', {
          kind: notice.kind,
          customerId: notice.customerId,
          error: (err as Error).message,
        });
      }
    },
  };
}
