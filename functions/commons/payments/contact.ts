import {
  type CustomerContactStore,
  canonicalCustomerId,
} from '../customer-notices/store/customer-contacts.ts';
import { logger } from '../logger.ts';
import { ledgerKeys } from './ledger/ledger.ts';
import type { Outcome, PayerContact, PaymentDeps, PaymentSucceeded } from './types.ts';

/**
 * `{ contact }` when the provider named an email or phone as text; else nothing. Anything
 * else (wrong types, absurd lengths) is dropped: a contact never blocks a credit. The payer's
 * name is not read: a payer types it, and it would reach a customer's notices.
 */
export function payerContact(from: unknown): { contact?: PayerContact } {
  if (typeof from !== 'object' || from === null) return {};
  const contact: PayerContact = {};
  for (const k of ['email', 'phone'] as const) {
    const v = (from as Record<string, unknown>)[k];
    const text = typeof v === 'string' ? v.trim() : '';
    if (text && text.length <= 320) contact[k] = text;
  }
  return Object.keys(contact).length > 0 ? { contact } : {};
}

/**
 * After a credit, keeps the payer's contact for customer notices, as captured (unconfirmed:
 * receipts only, never over an address the operator set or the customer confirmed). Never
 * blocks or fails the credit: the order is already credited, a failure here is only logged
 * (without the contact).
 */
export async function keepPayerContact(
  provider: string,
  ev: PaymentSucceeded,
  outcome: Outcome,
  deps: PaymentDeps,
): Promise<Outcome> {
  if (outcome.result !== 'credited' || !ev.contact || !deps.saveContact || !ev.customerId) {
    return outcome;
  }
  try {
    await deps.saveContact(
      canonicalCustomerId(ev.customerId),
      ev.contact,
      deps.clock(),
      ledgerKeys.order({ provider, paymentId: ev.paymentId }).pk,
    );
  } catch (err) {
    logger.warn('payer contact not kept', {
      paymentId: ev.paymentId,
      error: err instanceof Error ? err.name : 'unknown',
    });
  }
  return outcome;
}

/** The saveContact dependency over the contacts store. */
export function contactSaver(store: CustomerContactStore): NonNullable<PaymentDeps['saveContact']> {
  return (customerId, contact, at, order) => store.capture(customerId, contact, at, order);
}
