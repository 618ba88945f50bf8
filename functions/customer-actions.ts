import type { SNSEvent } from 'aws-lambda';
import { createAutoTopupListener } from './commons/autotopup/wiring.ts';
import { customerNoticesFromEnv } from './commons/customer-notices/wiring.ts';
import {
  type BalanceChangesMessage,
  BalanceChangesMessageError,
} from './commons/customers/handoff.ts';
import { parseBalanceChangesMessage } from './commons/customers/handoff-read.ts';
import { type ListenerFailure, runListeners } from './commons/customers/listeners.ts';
import type { BalanceListener } from './commons/customers/types.ts';
import { logger } from './commons/logger.ts';
import { instrument, recordListenerFailures } from './commons/observability.ts';

/** The messages of an SNS event; anything else is refused whole, before any action. */
function messagesOf(event: unknown): BalanceChangesMessage[] {
  const records = (event as Partial<SNSEvent> | null)?.Records;
  if (!Array.isArray(records) || records.length === 0) {
    throw new BalanceChangesMessageError('customer-actions: expected an SNS event with Records');
  }
  return records.map((r: Partial<SNSEvent['Records'][number]>) => {
    const body = r?.Sns?.Message;
    if (typeof body !== 'string') {
      throw new BalanceChangesMessageError('customer-actions: an SNS record without a Message');
    }
    return parseBalanceChangesMessage(body);
  });
}

/**
 * Subscribed to the balance-changes topic that poll-customers publishes to: hands each
 * message's changes to `listeners` in order. A listener that throws is logged and reported,
 * not retried (the other one already acted, and the next run brings any change that still
 * matters); a message that cannot be read throws before any listener runs, so Lambda retries
 * it and then keeps it in the dead-letter queue.
 */
export function createCustomerActionsHandler(listeners: () => readonly BalanceListener[]) {
  // Built on the first invocation and kept while the container is warm.
  let built: readonly BalanceListener[] | undefined;
  return instrument(async (event: unknown) => {
    const messages = messagesOf(event);
    built ??= listeners();
    let changes = 0;
    const listenerFailures: ListenerFailure[] = [];
    for (const m of messages) {
      changes += m.changes.length;
      listenerFailures.push(...(await runListeners(built, m.changes)));
    }
    const summary = {
      runAt: messages[0]?.at,
      parts: messages.map((m) => `${m.part}/${m.parts}`),
      changes,
      listenerFailures,
    };
    if (listenerFailures.length) {
      logger.error('balance listeners failed', summary);
      recordListenerFailures(listenerFailures);
    } else logger.info('customer-actions done', summary);
    return summary;
  });
}

/** The customer's notices first, then auto top-up (which may send a notice of its own). */
export const handler = createCustomerActionsHandler(() => [
  customerNoticesFromEnv(),
  createAutoTopupListener(),
]);
