import { type CustomerContactStore, maskContact } from './store/customer-contacts.ts';
import type { NoticeOutboxStore } from './store/notice-outbox.ts';

export interface ForgetResult {
  customerId: string;
  /** A contact was there and is gone. */
  contactRemoved: boolean;
  /** Outbox entries kept with the recipient masked and the text erased. */
  outboxEntriesMasked: number;
}

/**
 * Erasure of a customer's personal data in the notices: the contact first (so no new notice
 * finds an address), then the outbox (recipients masked, texts erased, open ones dropped).
 * Amounts under the customer id (ledger, balance, usage) are not personal contact data and
 * stay: refunds, reconciliation and exactly-once crediting depend on them.
 */
export async function forgetCustomer(
  stores: { contacts: CustomerContactStore; outbox: NoticeOutboxStore },
  customerId: string,
  now: Date,
): Promise<ForgetResult> {
  const contactRemoved = await stores.contacts.erase(customerId, now);
  const outboxEntriesMasked = await stores.outbox.erase(customerId, maskContact);
  return { customerId, contactRemoved, outboxEntriesMasked };
}
