import { logger } from '../logger.ts';
import type { OpsEvent, OpsEventSink } from '../ops-events.ts';

/**
 * Raises an alert without letting a failing notifier change the webhook's answer: the ledger
 * already records what happened, and the answer must match the ledger.
 */
export async function raiseAlert(sink: OpsEventSink, event: OpsEvent): Promise<void> {
  try {
    await sink.raise(event);
  } catch (err) {
    logger.error('alert could not be raised', {
      kind: event.kind,
      subject: event.subject,
      error: err instanceof Error ? err.name : 'unknown',
    });
  }
}
