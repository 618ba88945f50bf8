import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  BalanceChangesHandoff,
  BalanceChangesMessageError,
  balanceChangeMessages,
  MAX_MESSAGE_BYTES,
} from '../../functions/commons/customers/handoff.ts';
import { parseBalanceChangesMessage } from '../../functions/commons/customers/handoff-read.ts';
import { LISTENER_NAMES } from '../../functions/commons/customers/listeners.ts';
import type { BalanceChange, CustomerBalance } from '../../functions/commons/customers/types.ts';
import { metricsOutput } from '../../functions/commons/observability.ts';
import { createCustomerActionsHandler } from '../../functions/customer-actions.ts';
import { lambdaContext, snsEvent } from '../../local/runtime/events.ts';

const AT = '2026-12-01T10:15:00.000Z';

function balance(customerId: string, balanceMb: string): CustomerBalance {
  return {
    customerId,
    account: `acct-${customerId}`,
    balanceMb,
    burn1dMb: '1024.5',
    burn7dMb: null,
    daysLeft: 3,
    lastCreditMb: '10240',
    lastCreditAt: '2026-11-30T08:00:00.000Z',
    asOf: AT,
    // The auto top-up tells by them which of its credits the balance shows.
    recentCredits: [{ at: '2026-11-30T08:00:00.000Z', mb: '10240' }],
  };
}

function change(customerId: string, i = 0): BalanceChange {
  return {
    // A customer seen for the first time has no `before`.
    before: i % 2 ? balance(customerId, '5000') : undefined,
    after: balance(customerId, `-${i}.25`),
    credits: i % 3 ? [] : [{ mb: '10240', at: '2026-12-01T09:00:00.000Z', orderId: `ord-${i}` }],
  };
}

/** Records what each listener was handed, in order; `fail` makes one throw. */
function recorder(fail?: string) {
  const calls: { name: string; changes: readonly BalanceChange[] }[] = [];
  const listener = (name: string) => ({
    name,
    async onBalances(changes: readonly BalanceChange[]) {
      calls.push({ name, changes });
      if (name === fail) throw new TypeError(`${name} broke`);
    },
  });
  return {
    calls,
    listeners: () => [listener(LISTENER_NAMES.notices), listener(LISTENER_NAMES.autoTopup)],
  };
}

const context = () => lambdaContext('customer-actions', 300_000);

describe('balance changes handoff', () => {
  it('sends a run with no changes as one empty message (the notices still deliver what waited)', () => {
    const [only, ...rest] = balanceChangeMessages([], AT);
    expect(rest).toEqual([]);
    expect(parseBalanceChangesMessage(only ?? '')).toEqual({
      version: 1,
      at: AT,
      part: 1,
      parts: 1,
      changes: [],
    });
  });

  it('splits a large run into messages under the SNS limit, in order, and reads them back whole', () => {
    const changes = Array.from({ length: 2_000 }, (_, i) => change(String(1000 + i), i));
    const bodies = balanceChangeMessages(changes, AT);
    expect(bodies.length).toBeGreaterThan(1);
    for (const body of bodies)
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    const read = bodies.map(parseBalanceChangesMessage);
    expect(read.map((m) => [m.part, m.parts])).toEqual(
      bodies.map((_, i) => [i + 1, bodies.length]),
    );
    expect(read.flatMap((m) => m.changes)).toEqual(changes);
  });

  it('refuses a change too large for any message instead of sending a message SNS would reject', () => {
    const huge = change('1001');
    huge.after.account = 'x'.repeat(MAX_MESSAGE_BYTES);
    expect(() => balanceChangeMessages([huge], AT)).toThrow(BalanceChangesMessageError);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    [
      'another version',
      JSON.stringify({ version: 2, at: AT, part: 1, parts: 1, changes: [] }),
      /version/,
    ],
    [
      'a balance that is not a decimal',
      JSON.stringify({
        version: 1,
        at: AT,
        part: 1,
        parts: 1,
        changes: [{ ...change('1001'), after: { ...balance('1001', '1e3') } }],
      }),
      /changes\.0\.after\.balanceMb/,
    ],
    [
      'a change without its customer',
      JSON.stringify({ version: 1, at: AT, part: 1, parts: 1, changes: [{ credits: [] }] }),
      /changes\.0\.after/,
    ],
    [
      'a date that is not in the calendar',
      JSON.stringify({ version: 1, at: '2026-02-30T10:00:00Z', part: 1, parts: 1, changes: [] }),
      /^not a balance-changes message: at: /,
    ],
    [
      'a time without seconds',
      JSON.stringify({ version: 1, at: '2026-12-01T10:15Z', part: 1, parts: 1, changes: [] }),
      /at: expected ISO 8601/,
    ],
    [
      'a part numbered from 0',
      JSON.stringify({ version: 1, at: AT, part: 0, parts: 1, changes: [] }),
      /part: expected integer from 1, received number/,
    ],
    [
      'days left as text',
      JSON.stringify({
        version: 1,
        at: AT,
        part: 1,
        parts: 1,
        changes: [{ ...change('1001'), after: { ...balance('1001', '5'), daysLeft: '3' } }],
      }),
      /changes\.0\.after\.daysLeft: expected number or null, received string/,
    ],
    [
      'a credit with an empty order id',
      JSON.stringify({
        version: 1,
        at: AT,
        part: 1,
        parts: 1,
        changes: [{ ...change('1001'), credits: [{ mb: '1', at: AT, orderId: '' }] }],
      }),
      /changes\.0\.credits\.0\.orderId/,
    ],
    ['an array', '[]', /\(message\): expected object, received array/],
  ])('refuses %s, naming what is wrong', (_, body, message) => {
    expect(() => parseBalanceChangesMessage(body)).toThrow(BalanceChangesMessageError);
    expect(() => parseBalanceChangesMessage(body)).toThrow(message);
  });

  it('reads offsets and fractions of a second, and drops fields the contract does not know', () => {
    const after = { ...balance('1001', '5'), asOf: '2026-12-01T12:15:00.123456+02:00', extra: 1 };
    const body = JSON.stringify({
      version: 1,
      at: '2024-02-29T00:00:00-05:30',
      part: 2,
      parts: 3,
      changes: [{ after, credits: [{ mb: '-0.5', at: AT }] }],
      note: 'ignored',
    });
    const { extra: _, ...kept } = after;
    expect(parseBalanceChangesMessage(body)).toEqual({
      version: 1,
      at: '2024-02-29T00:00:00-05:30',
      part: 2,
      parts: 3,
      changes: [{ before: undefined, after: kept, credits: [{ mb: '-0.5', at: AT }] }],
    });
    expect(Object.hasOwn(parseBalanceChangesMessage(body).changes[0] ?? {}, 'before')).toBe(true);
  });

  it('hands each message to the sender in order, and fails when a send fails', async () => {
    const sent: string[] = [];
    const changes = Array.from({ length: 1_200 }, (_, i) => change(String(5000 + i), i));
    await new BalanceChangesHandoff(
      async (body) => {
        sent.push(body);
      },
      () => new Date(AT),
    ).onBalances(changes);
    expect(sent).toEqual(balanceChangeMessages(changes, AT));
    const failing = new BalanceChangesHandoff(async () => {
      throw new Error('SNS unavailable');
    });
    await expect(failing.onBalances(changes)).rejects.toThrow('SNS unavailable');
  });
});

describe('customer-actions handler', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('hands the listeners exactly the changes the poll handed on, notices first', async () => {
    const changes = [change('1001', 0), change('1002', 1)];
    const { calls, listeners } = recorder();
    const handler = createCustomerActionsHandler(listeners);
    const [body] = balanceChangeMessages(changes, AT);
    const result = await handler(snsEvent('balance-changes', body ?? ''), context());
    expect(calls.map((c) => c.name)).toEqual(['customer-notices', 'auto-top-up']);
    // Strict: `before: undefined` (a first-seen customer) survives the trip through JSON.
    for (const call of calls) expect(call.changes).toStrictEqual(changes);
    expect(result).toEqual({ runAt: AT, parts: ['1/1'], changes: 2, listenerFailures: [] });
  });

  it('still runs auto top-up when the notices fail, and reports the failure', async () => {
    const metrics: Record<string, unknown>[] = [];
    const was = metricsOutput.enabled;
    metricsOutput.enabled = true;
    onTestFinished(() => {
      metricsOutput.enabled = was;
    });
    vi.spyOn(metricsOutput, 'write').mockImplementation((line) => {
      metrics.push(JSON.parse(line) as Record<string, unknown>);
    });
    const { calls, listeners } = recorder('customer-notices');
    const handler = createCustomerActionsHandler(listeners);
    const [body] = balanceChangeMessages([change('1001')], AT);
    const result = await handler(snsEvent('balance-changes', body ?? ''), context());
    expect(calls.map((c) => c.name)).toEqual(['customer-notices', 'auto-top-up']);
    expect(result.listenerFailures).toEqual([
      { name: 'customer-notices', message: 'TypeError: customer-notices broke' },
    ]);
    // … and counts it, for the alarm: the run itself succeeded.
    expect(metrics).toContainEqual(
      expect.objectContaining({ Listener: 'customer-notices', BalanceListenerFailed: 1 }),
    );
  });

  it.each([
    ['an event that is not from SNS', { 'detail-type': 'Scheduled Event' }],
    ['an SNS record without a message', { Records: [{ Sns: {} }] }],
    ['a message of another kind', snsEvent('balance-changes', '{"hello":"world"}')],
  ])('refuses %s before any listener runs', async (_, event) => {
    const { calls, listeners } = recorder();
    const handler = createCustomerActionsHandler(listeners);
    await expect(handler(event, context())).rejects.toThrow(BalanceChangesMessageError);
    expect(calls).toEqual([]);
  });
});
