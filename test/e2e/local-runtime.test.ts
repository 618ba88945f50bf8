import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { signedCheckoutCompleted } from '../../scripts/stripe-checkout.ts';
import { stopGroup, useLocalRuns } from '../helpers/npm-start.ts';

function stripePayment(sessionId: string, customerId: string) {
  return signedCheckoutCompleted({
    secret: LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET,
    sessionId,
    customerId,
    packageId: 'demo-10gb',
    quantity: 1,
    amountMinor: 500,
    currency: 'usd',
  });
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
  method = 'POST',
) {
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('local runtime end to end: npm start', () => {
  const startLocal = useLocalRuns();

  it('credits a payment delivered 20 times at once exactly once, polls, alerts, stops cleanly and keeps its data', async () => {
    // Prepare
    const first = await startLocal();
    const sim = first.sim;
    const payment = stripePayment(`cs_e2e_${randomBytes(6).toString('hex')}`, '1001');
    const webhook = `${first.base}/webhooks/stripe`;
    const headers = { 'content-type': 'application/json', 'stripe-signature': payment.signature };

    // Act: a payment, then a poll that finds the primary pool nearly empty.
    // 20 concurrent deliveries of one payment, as a provider's retries can race.
    const deliveries = await Promise.all(
      Array.from({ length: 20 }, () => post(webhook, payment.payload, headers)),
    );
    const lowered = await post(
      `${sim}_sim/pools/primary`,
      JSON.stringify({ residualMb: '1024' }),
      { 'content-type': 'application/json' },
      'PUT',
    );
    expect(lowered.status).toBe(200);
    const poll = await first.invoke('poll-totals');

    // Assess
    const results = deliveries.map((d) => `${d.status} ${String(d.body.result ?? d.body.message)}`);
    expect(results.filter((r) => r === '200 credited')).toHaveLength(1);
    for (const r of results)
      expect(r).toMatch(/^(200 credited|200 already-credited|409 in-progress)$/);
    const ledger = (await (await fetch(`${sim}_sim/ledger`)).json()) as {
      customerId: string;
      trafficGb: string;
    }[];
    expect(ledger).toEqual([expect.objectContaining({ customerId: '1001', trafficGb: '10' })]);
    expect(poll.status).toBe(200);
    expect(poll.body).toMatchObject({ function: 'poll-totals', ok: true });
    expect(first.output()).toMatch(/ALERT .*severity=critical rule=low-residual pool=primary/);

    // The upstream now rejects the token: the poll fails (non-2xx) and says so once.
    await post(
      `${sim}_sim/faults`,
      JSON.stringify({ kind: 'auth', endpoint: 'getFlowTotalFull' }),
      { 'content-type': 'application/json' },
    );
    const rejected = await first.invoke('poll-totals');
    expect(rejected.status).toBe(502);
    expect(rejected.body).toMatchObject({
      ok: false,
      result: { outcome: { ok: false, reason: 'auth' } },
    });
    expect(first.output()).toMatch(/ALERT .*rule=token-rejected/);
    expect(await first.invoke('no-such-function')).toMatchObject({ status: 404 });

    // Stop with SIGTERM: in-flight work finishes, the store closes.
    await stopGroup(first);
    expect(first.output()).toMatch(/SIGTERM: stopping…\nstopped/);

    // Restart on the same data: the order is remembered, so the retry credits nothing new;
    // the simulator kept its state too, so its ledger still holds the one recharge.
    const second = await startLocal({ dataDir: first.dataDir, port: first.port });
    const again = await post(`${second.base}/webhooks/stripe`, payment.payload, headers);
    expect(again.status).toBe(200);
    expect(again.body.result).toMatch(/already/);
    const ledger2 = (await (await fetch(new URL('/_sim/ledger', second.sim))).json()) as unknown[];
    expect(ledger2).toEqual(ledger);
    await stopGroup(second);
    expect(second.output()).toMatch(/stopped/);
  }, 120_000);
});
