import { logger } from '../logger.ts';
import type { OpsEvent, OpsEventSink } from '../ops-events.ts';

/**
 * Raises an alert without letting a failing notifier change the webhook's answer: the ledger
 * already records what happened, and the answer must match the ledger. False when it was
 * lost, so that a record noting the alert went out is not written.
 */
export async function raiseAlert(sink: OpsEventSink, event: OpsEvent): Promise<boolean> {
  try {
    await sink.raise(event);
    return true;
  } catch (err) {
    logger.error('alert could not be raised', {
      kind: event.kind,
      subject: event.subject,
      error: err instanceof Error ? err.name : 'unknown',
    });
    return false;
  }
}
