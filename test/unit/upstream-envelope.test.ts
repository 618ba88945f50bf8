import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../functions/commons/errors.ts';
import { Decimal } from '../../functions/commons/units.ts';
import {
  createDynamicTrafficClient,
  type DynamicTrafficClientOptions,
} from '../../functions/commons/upstream/client.ts';
import {
  UpstreamAuthError,
  UpstreamDataError,
  UpstreamRejectedError,
  UpstreamTransportError,
} from '../../functions/commons/upstream/errors.ts';

/** A fetch that answers from a script, one entry per call, and records the requests. */
function scripted(answers: Array<(() => Response) | Error>) {
  const requests: Array<{ url: string; headers: Headers; redirect: string | undefined }> = [];
  const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
    requests.push({
      url: String(input),
      headers: new Headers(init?.headers),
      redirect: init?.redirect,
    });
    const next = answers[Math.min(requests.length - 1, answers.length - 1)];
    if (!next) throw new Error('script is empty');
    if (next instanceof Error) throw next;
    return next();
  }) as typeof fetch;
  return { requests, fetchFn };
}

const json =
  (body: unknown, status = 200) =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function client(fetchFn: typeof fetch, over: Partial<DynamicTrafficClientOptions> = {}) {
  return createDynamicTrafficClient({
    baseUrl: 'https://upstream.example/prod-api/',
    token: 'T0KEN',
    timeoutMs: 1_000,
    retry: { attempts: 3, baseDelayMs: 0, maxDelayMs: 0 },
    fetch: fetchFn,
    sleep: async () => {},
    ...over,
  });
}

function networkError(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

const page = { total: 0, rows: [], code: 200, msg: '查询成功' };

describe('Dynamic Traffic client: envelope and requests', () => {
  it('builds GET requests on the base URL with query parameters and the token header', async () => {
    // Prepare
    const s = scripted([json({ code: 200, msg: '操作成功', data: page })]);

    // Act
    await client(s.fetchFn).flowReport({
      customerId: '39',
      pageNum: 2,
      pageSize: 5000,
      startDate: '2025-12-01',
    });

    // Assess
    const url = new URL(s.requests[0]?.url ?? '');
    expect(url.origin + url.pathname).toBe(
      'https://upstream.example/prod-api/open/dynamic/flowReport',
    );
    expect(Object.fromEntries(url.searchParams)).toEqual({
      pageNum: '2',
      pageSize: '2000',
      customerId: '39',
      startDate: '2025-12-01',
    });
    expect(s.requests[0]?.headers.get('token')).toBe('T0KEN');
    expect(s.requests[0]?.redirect).toBe('manual');
  });

  it('an inner code that disagrees with the outer one is a rejection', async () => {
    // Prepare
    const s = scripted([
      json({ code: 200, msg: '操作成功', data: { ...page, code: 500, msg: '查询失败' } }),
    ]);

    // Act / Assess
    await expect(client(s.fetchFn).myRechargeFlowList({})).rejects.toMatchObject({
      code: 500,
      upstreamMessage: '查询失败',
    });
  });

  it('an auth message inside data is an auth error', async () => {
    // Prepare
    const s = scripted([
      json({ code: 200, msg: '操作成功', data: { ...page, msg: '无效的认证令牌' } }),
    ]);

    // Act / Assess
    await expect(client(s.fetchFn).rechargeFlowListForMe({})).rejects.toBeInstanceOf(
      UpstreamAuthError,
    );
  });

  it('reads a code sent as a string, and treats code 401 as an auth failure', async () => {
    // Prepare
    const s = scripted([
      json({ code: '200', msg: '操作成功', data: [] }),
      json({ code: 401, msg: '认证失败' }),
    ]);
    const c = client(s.fetchFn);

    // Act / Assess
    await expect(c.getNNIFlowConsumeDetail({})).resolves.toEqual([]);
    await expect(c.getNNIFlowConsumeDetail({})).rejects.toBeInstanceOf(UpstreamAuthError);
  });

  it('JSON without a code is a bad body', async () => {
    // Prepare
    const s = scripted([json({ status: 'ok' })]);

    // Act / Assess
    await expect(
      client(s.fetchFn, {
        retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      }).getFlowTotalFull(),
    ).rejects.toMatchObject({
      kind: 'bad-body',
    });
  });

  it('a redirect is not followed: an http-status error', async () => {
    // Prepare
    const s = scripted([
      () => new Response(null, { status: 302, headers: { location: 'https://evil.example/' } }),
    ]);

    // Act
    const err = await client(s.fetchFn)
      .getFlowTotalFull()
      .catch((e: unknown) => e);

    // Assess
    expect(err).toMatchObject({ kind: 'http-status', httpStatus: 302 });
    expect(s.requests).toHaveLength(1);
  });

  it('a shape error is an UpstreamDataError naming the field', async () => {
    // Prepare
    const s = scripted([json({ code: 200, msg: '操作成功', data: { account: {} } })]);

    // Act
    const err = await client(s.fetchFn)
      .getFlowTotalFull()
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(UpstreamDataError);
    expect((err as Error).message).toContain('data.account.flowCount');
  });

  it('recharge: code 200 with an unfamiliar message is still applied; auth message is not', async () => {
    // Prepare
    const s = scripted([
      json({ code: 200, msg: '操作成功' }),
      json({ code: 200, msg: '无效的认证令牌', data: null }),
    ]);
    const c = client(s.fetchFn);
    const req = { customerId: '88', orderId: 'o-1', trafficGb: new Decimal('1.01') };

    // Act / Assess
    await expect(c.rechargeTrafficCount(req)).resolves.toEqual({
      status: 'applied',
      code: 200,
      message: '操作成功',
    });
    await expect(c.rechargeTrafficCount(req)).rejects.toBeInstanceOf(UpstreamAuthError);
  });

  it('recharge: an unknown code is rejected with its message, not retried', async () => {
    // Prepare
    const s = scripted([json({ code: 205, msg: '套餐不存在' })]);

    // Act
    const err = await client(s.fetchFn)
      .rechargeTrafficCount({ customerId: '88', orderId: 'o', trafficGb: new Decimal(1) })
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(UpstreamRejectedError);
    expect(err).toMatchObject({ code: 205, upstreamMessage: '套餐不存在' });
    expect(s.requests).toHaveLength(1);
  });

  it('recharge: once an attempt may have been sent, the final error says sent', async () => {
    // Prepare
    const s = scripted([networkError('UND_ERR_SOCKET'), networkError('ECONNREFUSED')]);

    // Act
    const err = await client(s.fetchFn)
      .rechargeTrafficCount({ customerId: '88', orderId: 'o', trafficGb: new Decimal(1) })
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(UpstreamTransportError);
    expect(err).toMatchObject({ kind: 'network', sent: true });
    expect(s.requests).toHaveLength(3);
  });

  it('an already-aborted caller signal sends nothing', async () => {
    // Prepare
    const s = scripted([json({ code: 200, msg: '扣除成功' })]);

    // Act
    const err = await client(s.fetchFn)
      .deductionFlow(
        { customerId: '88', trafficGb: new Decimal(1) },
        { signal: AbortSignal.abort() },
      )
      .catch((e: unknown) => e);

    // Assess
    expect(err).toMatchObject({ kind: 'aborted', sent: false });
    expect(s.requests).toHaveLength(0);
  });

  it.each([
    [
      'customerId not digits',
      (c: ReturnType<typeof client>) =>
        c.deductionFlow({ customerId: '8a', trafficGb: new Decimal(1) }),
    ],
    [
      'under 0.01 GB',
      (c: ReturnType<typeof client>) =>
        c.deductionFlow({ customerId: '8', trafficGb: new Decimal('0.009') }),
    ],
    [
      'empty orderId',
      (c: ReturnType<typeof client>) =>
        c.rechargeTrafficCount({ customerId: '8', orderId: ' ', trafficGb: new Decimal(1) }),
    ],
    [
      'bad date',
      (c: ReturnType<typeof client>) => c.getFlowConsumeDetail({ startDate: '2025-13-01' }),
    ],
  ])('rejects %s before calling', async (_, call) => {
    // Prepare
    const s = scripted([json({ code: 200, msg: '操作成功' })]);

    // Act / Assess
    await expect(call(client(s.fetchFn))).rejects.toBeInstanceOf(ValidationError);
    expect(s.requests).toHaveLength(0);
  });
});
