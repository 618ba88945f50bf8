import { describe, expect, it } from 'vitest';
import { MalformedWebhookError } from '../../functions/commons/payments/errors.ts';
import { FieldReader } from '../../functions/commons/payments/providers/fields.ts';

/** The message a malformed read carries in its cause (what the log line shows). */
function causeOf(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedWebhookError);
    return (err as MalformedWebhookError).cause instanceof Error
      ? ((err as MalformedWebhookError).cause as Error).message
      : '';
  }
  throw new Error('the read did not fail');
}

describe('Class: FieldReader', () => {
  const session = FieldReader.of(
    {
      id: 'cs_1',
      amount_total: 1000,
      currency: 'USD',
      payment_intent: { id: 'pi_1', object: 'payment_intent' },
      metadata: { package: 'gb10' },
      client_reference_id: null,
    },
    'event.data.object',
  );

  it('reads the fields as their types, currencies lower-cased, expanded references by id', () => {
    expect(session.paymentId('id')).toBe('cs_1');
    expect(session.count('amount_total')).toBe(1000);
    expect(session.currency('currency')).toBe('usd');
    expect(session.optionalRef('payment_intent')).toBe('pi_1');
    expect(session.optionalStringMap('metadata')).toEqual({ package: 'gb10' });
    expect(session.optionalString('client_reference_id')).toBeUndefined();
    expect(session.optionalCount('amount_subtotal')).toBeUndefined();
  });

  it.each([
    [
      { amount_total: '1000' },
      (r: FieldReader) => r.count('amount_total'),
      'amount_total: expected non-negative integer, received string',
    ],
    [
      { amount_total: -1 },
      (r: FieldReader) => r.count('amount_total'),
      'amount_total: expected non-negative integer, received number',
    ],
    [
      { amount_total: 10.5 },
      (r: FieldReader) => r.count('amount_total'),
      'amount_total: expected non-negative integer',
    ],
    [{ id: 'has space' }, (r: FieldReader) => r.paymentId('id'), 'id: expected payment id'],
    [{ id: 'x'.repeat(201) }, (r: FieldReader) => r.paymentId('id'), 'id: expected payment id'],
    [
      { currency: 'dollars' },
      (r: FieldReader) => r.currency('currency'),
      'currency: expected currency code',
    ],
    [
      { metadata: { quantity: 2 } },
      (r: FieldReader) => r.optionalStringMap('metadata'),
      'metadata.quantity: expected string, received number',
    ],
    [
      { payment_intent: { object: 'payment_intent' } },
      (r: FieldReader) => r.optionalRef('payment_intent'),
      'payment_intent.id: expected string, received undefined',
    ],
    [
      { total_details: [] },
      (r: FieldReader) => r.optionalObject('total_details'),
      'total_details: expected object, received array',
    ],
    [
      { livemode: 'false' },
      (r: FieldReader) => r.boolean('livemode'),
      'livemode: expected boolean, received string',
    ],
  ])('refuses %j as malformed, naming the field', (fields, read, message) => {
    expect(causeOf(() => read(FieldReader.of(fields, 'event.data.object')))).toContain(
      `event.data.object.${message}`,
    );
  });

  it('refuses a value that is not an object where one is expected', () => {
    expect(causeOf(() => FieldReader.of(null, 'event'))).toBe(
      'event: expected object, received null',
    );
    expect(causeOf(() => FieldReader.of(['a'], 'event'))).toBe(
      'event: expected object, received array',
    );
  });
});
