import type { OneOffNotice } from '../customer-notices/listener.ts';
import { FlowPilotError } from '../errors.ts';

/** A notice the customer notices could not record: the caller sends it again later. */
export class AutoTopupNoticeError extends FlowPilotError {
  override name = 'AutoTopupNoticeError';
}

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
 * with quiet hours, the outbox). A failure to record one is thrown: the engine notes a notice
 * due before sending it and sends it again until recorded (never the charge step again).
 */
export function customerAutoTopupNotices(sender: OneOffNoticeSender): AutoTopupNotices {
  return {
    async send(notice) {
      try {
        await sender.sendOnce(oneOffNotice(notice));
      } catch (err) {
        throw new AutoTopupNoticeError(
          `auto top-up ${notice.kind} notice of customer ${notice.customerId} not recorded`,
          { cause: err },
        );
      }
    },
  };
}
