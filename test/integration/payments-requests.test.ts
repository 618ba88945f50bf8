import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { contactSaver } from '../../functions/commons/payments/contact.ts';
import { useTestTable } from '../helpers/dynamo.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import {
  checkoutSession,
  countRequests,
  stripeDelivery,
  stripeEvent,
} from './payments-fixtures.ts';

/**
 * Issue #29 point 4: DynamoDB requests per delivery, counted on the SDK client (every command
 * the handler sends, whatever it is). A fresh order: the order's transaction (which also
 * checks for refunds recorded before it) and its mark as credited; a payer contact in the
 * event adds one update. A duplicate: the one failed write that tells the order's state.
 */
describe('payment webhook: DynamoDB requests per delivery', () => {
  const pay = usePaymentWebhook({ table: 'requests', customers: ['88'] });
  const requests = countRequests(pay.table.client);
  const handlerOf = () =>
    pay.handler({
      saveContact: contactSaver(new CustomerContactStore(pay.table.doc, pay.table.tableName)),
    });
  const paid = (id: string, contact: boolean) =>
    stripeDelivery(
      'stripe',
      stripeEvent('checkout.session.completed', {
        ...checkoutSession(id),
        ...(contact ? { customer_details: { email: 'payer@example.com', name: 'A Payer' } } : {}),
      }),
    );

  // A payer contact costs one update: the payment's own address for its receipt and the
  // newest-payment-wins address together (customers' first capture; a later one takes two).
  it.each([
    ['without a payer contact', false, 2],
    ['with a payer contact', true, 3],
  ])(
    'a fresh order %s (contact: %s) takes at most %d requests, a duplicate 1',
    async (_, contact, most) => {
      // Prepare
      const handler = handlerOf();
      const id = `cs_test_${randomUUID().replace(/-/g, '')}`;
      const delivery = paid(id, contact);

      // Act
      requests.reset();
      const fresh = await handler(delivery);
      const freshRequests = requests.total();
      requests.reset();
      const duplicate = await handler(delivery);
      const duplicateRequests = requests.total();

      // Assess
      expect(JSON.parse(fresh.body ?? '{}').result).toBe('credited');
      expect(JSON.parse(duplicate.body ?? '{}').result).toBe('already-credited');
      expect(freshRequests).toBeLessThanOrEqual(most);
      expect(duplicateRequests).toBe(1);
    },
  );
});

describe("a payer contact's capture: requests and what it keeps", () => {
  const table = useTestTable('capture');
  const requests = countRequests(table.client);

  it('takes one update for a first capture, two later: the new one kept, one past retention dropped, the newest payment the latest', async () => {
    // Prepare
    const store = new CustomerContactStore(table.doc, table.tableName);
    const day = 86_400_000;
    const t0 = Date.parse('2026-11-01T10:00:00.000Z');

    // Act: a first payment, one 8 days later, then a late delivery of one in between.
    requests.reset();
    await store.capture('7', { email: 'a@example.com' }, new Date(t0), 'ORDER#a');
    const first = requests.total();
    requests.reset();
    await store.capture('7', { email: 'b@example.com' }, new Date(t0 + 8 * day), 'ORDER#b');
    const later = requests.total();
    const older = await store.capture(
      '7',
      { email: 'c@example.com' },
      new Date(t0 + 7 * day),
      'ORDER#c',
    );
    const kept = await store.get('7');

    // Assess
    expect(first).toBe(1);
    expect(later).toBe(2);
    expect(older).toEqual({ email: false, phone: false });
    expect(Object.keys(kept?.captures ?? {}).sort()).toEqual(['ORDER#b', 'ORDER#c']);
    expect(kept?.captures['ORDER#c']?.email).toBe('c@example.com');
    expect(kept?.paymentEmail).toBe('b@example.com');
  });
});
