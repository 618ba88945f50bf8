import { MetricUnit, recordMetric } from '../observability.ts';
import type { OutboxEntry } from './store/notice-outbox.ts';

/** EMF metrics of the customer notices; infra alarms on `CustomerNoticeFailed`. */
export const NOTICE_METRICS = {
  sent: 'CustomerNoticeSent',
  failed: 'CustomerNoticeFailed',
  retried: 'CustomerNoticeRetried',
} as const;
export const NOTICE_CHANNEL_DIMENSION = 'Channel';

/** One document per figure, with the channel as its dimension. */
export function recordNotice(
  outcome: 'sent' | 'printed' | 'retry' | 'failed',
  entry: Pick<OutboxEntry, 'channel'>,
): void {
  if (outcome === 'printed') return;
  const name =
    outcome === 'sent'
      ? NOTICE_METRICS.sent
      : outcome === 'failed'
        ? NOTICE_METRICS.failed
        : NOTICE_METRICS.retried;
  recordMetric(name, MetricUnit.Count, 1, [NOTICE_CHANNEL_DIMENSION, entry.channel]);
}
