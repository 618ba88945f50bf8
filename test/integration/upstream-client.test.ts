import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../functions/commons/units.ts';
import { createDynamicTrafficClient } from '../../functions/commons/upstream/client.ts';
import {
  NotChannelCustomerError,
  UpstreamAuthError,
  UpstreamDataError,
  UpstreamError,
  UpstreamRejectedError,
  UpstreamTransportError,
} from '../../functions/commons/upstream/errors.ts';
import { collectRows, flowReportPages } from '../../functions/commons/upstream/paginate.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import { startSimulator } from '../../local/simulator/index.ts';
import { useSimulator } from '../helpers/simulator.ts';

const TOKEN = 'tok-Sup3rSecret-0123456789';
const fx = useSimulator({ token: TOKEN });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

function addChannel(): void {
  fx.sim.addCustomer({ customerId: '88', account: 'alice@example.com' });
  fx.sim.addCustomer({ customerId: '99', account: 'bob@example.com', inChannel: false });
  fx.sim.setPool('primary', { rechargedMb: 10240, consumedMb: 0, residualMb: 10240 });
}

/** Every read endpoint, called with no filters. */
const reads: Record<string, (c: DynamicTrafficApi) => Promise<unknown>> = {
  getFlowTotalFull: (c) => c.getFlowTotalFull(),
  flowReport: (c) => c.flowReport({}),
  getFlowConsumeDetail: (c) => c.getFlowConsumeDetail({}),
  getNNIFlowConsumeDetail: (c) => c.getNNIFlowConsumeDetail({}),
  myRechargeFlowList: (c) => c.myRechargeFlowList({}),
  rechargeFlowListForMe: (c) => c.rechargeFlowListForMe({}),
};

describe('Dynamic Traffic client against the simulator', () => {
  describe('Method: getFlowTotalFull', () => {
    it('maps account to primary and account2 to secondary, as decimals', async () => {
      // Prepare
      fx.sim.setPool('primary', {
        rechargedMb: '5242880',
        consumedMb: '1024.5',
        residualMb: '5241855.5',
      });
      fx.sim.setPool('secondary', { rechargedMb: 100, consumedMb: 0, residualMb: 100 });

      // Act
      const totals = await fx.client().getFlowTotalFull();

      // Assess
      expect(totals.primary.rechargedMb.toFixed()).toBe('5242880');
      expect(totals.primary.consumedMb.toFixed()).toBe('1024.5');
      expect(totals.primary.residualMb.toFixed()).toBe('5241855.5');
      expect(totals.secondary.residualMb.toFixed()).toBe('100');
      expect(totals.primary.residualMb).toBeInstanceOf(Decimal);
    });

    it('reads the residual from the trailing-space key when it is the only one', async () => {
      // Prepare
      fx.sim.setOptions({ residualKey: 'spaced' });
      fx.sim.setPool('primary', { residualMb: '42.25' });

      // Act
      const totals = await fx.client().getFlowTotalFull();

      // Assess
      expect(totals.primary.residualMb.toFixed()).toBe('42.25');
    });

    it('reads numbers sent as strings, or as a mix, to the same decimals', async () => {
      // Prepare
      fx.sim.setPool('primary', {
        rechargedMb: '0.1',
        consumedMb: '0.2',
        residualMb: '1234567.89',
      });
      fx.sim.setOptions({ numberStyle: 'number' });
      const asNumbers = await fx.client().getFlowTotalFull();

      // Act
      fx.sim.setOptions({ numberStyle: 'string' });
      const asStrings = await fx.client().getFlowTotalFull();
      fx.sim.setOptions({ numberStyle: 'mixed' });
      const mixed = await fx.client().getFlowTotalFull();

      // Assess
      for (const t of [asStrings, mixed]) {
        expect(t.primary.rechargedMb.toFixed()).toBe(asNumbers.primary.rechargedMb.toFixed());
        expect(t.primary.consumedMb.toFixed()).toBe('0.2');
        expect(t.primary.residualMb.toFixed()).toBe('1234567.89');
      }
      expect(fx.sim.calls('getFlowTotalFull').every((c) => c.authorized)).toBe(true);
    });
  });

  describe('Authentication (code 200 with 无效的认证令牌)', () => {
    it.each(Object.keys(reads))('%s: raises UpstreamAuthError, once, never zeros', async (name) => {
      // Prepare
      const client = fx.client({ token: 'wrong-token' });
      const call = reads[name];
      if (!call) throw new Error(name);

      // Act
      const err = await failure(call(client));

      // Assess
      expect(err).toBeInstanceOf(UpstreamAuthError);
      expect((err as UpstreamAuthError).transient).toBe(false);
      expect(fx.sim.callCount()).toBe(1);
      expect(fx.sim.calls()[0]?.authorized).toBe(false);
    });

    it('recharge: raises UpstreamAuthError instead of reading code 200 as applied', async () => {
      // Prepare
      addChannel();
      fx.sim.addFault({ kind: 'auth', endpoint: 'rechargeTrafficCount' });

      // Act
      const err = await failure(
        fx
          .client()
          .rechargeTrafficCount({ customerId: '88', orderId: 'o-1', trafficGb: new Decimal(1) }),
      );

      // Assess
      expect(err).toBeInstanceOf(UpstreamAuthError);
      expect(fx.sim.ledger()).toEqual([]);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(1);
    });

    it('deduction: raises UpstreamAuthError for a wrong token and deducts nothing', async () => {
      // Prepare
      addChannel();

      // Act
      const err = await failure(
        fx
          .client({ token: 'wrong' })
          .deductionFlow({ customerId: '88', trafficGb: new Decimal(1) }),
      );

      // Assess
      expect(err).toBeInstanceOf(UpstreamAuthError);
      expect(fx.sim.deductions()).toEqual([]);
    });

    it('sends the token in the `token` header of every endpoint', async () => {
      // Prepare
      addChannel();
      const client = fx.client();

      // Act
      for (const call of Object.values(reads)) await call(client);
      await client.rechargeTrafficCount({
        customerId: '88',
        orderId: 'o-h',
        trafficGb: new Decimal(1),
      });
      await client.deductionFlow({ customerId: '88', trafficGb: new Decimal('0.5') });

      // Assess
      const calls = fx.sim.calls();
      expect(new Set(calls.map((c) => c.endpoint)).size).toBe(8);
      expect(calls.every((c) => c.authorized)).toBe(true);
    });
  });

  describe('Envelope failures on reads', () => {
    it('code 200 without data (another message) is an UpstreamDataError, retried', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'no-data', endpoint: 'getFlowTotalFull' });

      // Act
      const err = await failure(fx.client().getFlowTotalFull());

      // Assess
      expect(err).toBeInstanceOf(UpstreamDataError);
      expect(err).not.toBeInstanceOf(UpstreamAuthError);
      expect(fx.sim.callCount('getFlowTotalFull')).toBe(3);
    });

    it('another code keeps code and message, and is not retried', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'code', endpoint: 'flowReport', code: 500, msg: '系统繁忙' });

      // Act
      const err = await failure(fx.client().flowReport({}));

      // Assess
      expect(err).toBeInstanceOf(UpstreamRejectedError);
      expect(err).toMatchObject({ code: 500, upstreamMessage: '系统繁忙' });
      expect(fx.sim.callCount('flowReport')).toBe(1);
    });
  });

  describe('Method: rechargeTrafficCount', () => {
    it('200 is applied: sends GB as decimal text and moves MB at 1024', async () => {
      // Prepare
      addChannel();

      // Act
      const outcome = await fx.client().rechargeTrafficCount({
        customerId: '88',
        orderId: 'stripe:pi_1',
        trafficGb: new Decimal('1.019'),
      });

      // Assess
      expect(outcome).toEqual({ status: 'applied', code: 200, message: '充值成功' });
      expect(fx.sim.calls('rechargeTrafficCount')[0]?.query).toEqual({
        customerId: '88',
        orderId: 'stripe:pi_1',
        trafficCount: '1.01',
      });
      expect(fx.sim.ledger()).toMatchObject([{ orderId: 'stripe:pi_1', flowMb: '1034.24' }]);
      expect(fx.sim.getPools().primary.residualMb).toBe('9205.76');
      expect(fx.sim.getCustomer('88')?.balanceMb).toBe('1034.24');
    });

    it.each([201, 203] as const)('a known orderId answered %i is already-applied', async (code) => {
      // Prepare
      addChannel();
      fx.sim.setOptions({ alreadyProcessedCode: code });
      const client = fx.client();
      const req = { customerId: '88', orderId: 'o-dup', trafficGb: new Decimal(2) };
      await client.rechargeTrafficCount(req);

      // Act
      const outcome = await client.rechargeTrafficCount(req);

      // Assess
      expect(outcome).toEqual({ status: 'already-applied', code, message: '该订单已处理' });
      expect(fx.sim.ledger()).toHaveLength(1);
      expect(fx.sim.getCustomer('88')?.balanceMb).toBe('2048');
    });

    it.each(['99', '12345'])(
      '204 (customer %s not in channel) is permanent, not retried',
      async (id) => {
        // Prepare
        addChannel();

        // Act
        const err = await failure(
          fx
            .client()
            .rechargeTrafficCount({ customerId: id, orderId: 'o-x', trafficGb: new Decimal(1) }),
        );

        // Assess
        expect(err).toBeInstanceOf(NotChannelCustomerError);
        expect(err).toMatchObject({ code: 204, transient: false });
        expect(fx.sim.callCount('rechargeTrafficCount')).toBe(1);
        expect(fx.sim.ledger()).toEqual([]);
      },
    );

    it('another code is a failure that keeps code and message', async () => {
      // Prepare
      addChannel();
      fx.sim.setPool('primary', { residualMb: 100 });

      // Act
      const err = await failure(
        fx
          .client()
          .rechargeTrafficCount({ customerId: '88', orderId: 'o-big', trafficGb: new Decimal(1) }),
      );

      // Assess
      expect(err).toBeInstanceOf(UpstreamRejectedError);
      expect(err).not.toBeInstanceOf(NotChannelCustomerError);
      expect(err).toMatchObject({ code: 500, upstreamMessage: '账户剩余流量不足' });
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(1);
    });

    it('after apply-then-drop, the retry answers already-applied and credits once', async () => {
      // Prepare
      addChannel();
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount', times: 1 });

      // Act
      const outcome = await fx.client().rechargeTrafficCount({
        customerId: '88',
        orderId: 'o-drop',
        trafficGb: new Decimal(3),
      });

      // Assess
      expect(outcome.status).toBe('already-applied');
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(2);
      expect(fx.sim.ledger()).toHaveLength(1);
      expect(fx.sim.getCustomer('88')?.balanceMb).toBe('3072');
    });

    it('a lost answer with no attempt left is a transport error with sent: true', async () => {
      // Prepare
      addChannel();
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount' });
      const client = fx.client({ retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } });

      // Act
      const err = await failure(
        client.rechargeTrafficCount({
          customerId: '88',
          orderId: 'o-lost',
          trafficGb: new Decimal(1),
        }),
      );

      // Assess
      expect(err).toBeInstanceOf(UpstreamTransportError);
      expect(err).toMatchObject({ kind: 'network', sent: true });
      expect(fx.sim.ledger()).toHaveLength(1);
    });
  });

  describe('Method: deductionFlow', () => {
    it('200 deducts and keeps the message', async () => {
      // Prepare
      addChannel();
      const client = fx.client();
      await client.rechargeTrafficCount({
        customerId: '88',
        orderId: 'o-1',
        trafficGb: new Decimal(2),
      });

      // Act
      const result = await client.deductionFlow({
        customerId: '88',
        trafficGb: new Decimal('0.5'),
      });

      // Assess
      expect(result).toEqual({ code: 200, message: '扣除成功' });
      expect(fx.sim.deductions()).toMatchObject([
        { customerId: '88', trafficGb: '0.5', flowMb: '512' },
      ]);
      expect(fx.sim.getCustomer('88')?.balanceMb).toBe('1536');
    });

    it('after apply-then-drop: one call, transport error with sent: true, no retry', async () => {
      // Prepare
      addChannel();
      await fx
        .client()
        .rechargeTrafficCount({ customerId: '88', orderId: 'o', trafficGb: new Decimal(2) });
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'deductionFlow' });

      // Act
      const err = await failure(
        fx.client().deductionFlow({ customerId: '88', trafficGb: new Decimal(1) }),
      );

      // Assess
      expect(err).toBeInstanceOf(UpstreamTransportError);
      expect(err).toMatchObject({ sent: true });
      expect(fx.sim.callCount('deductionFlow')).toBe(1);
      expect(fx.sim.deductions()).toHaveLength(1);
    });

    it.each([{ kind: 'status', status: 503 }, { kind: 'reset' }] as const)(
      'a $kind failure is not retried',
      async (fault) => {
        // Prepare
        addChannel();
        fx.sim.addFault({ ...fault, endpoint: 'deductionFlow' });

        // Act
        const err = await failure(
          fx.client().deductionFlow({ customerId: '88', trafficGb: new Decimal(1) }),
        );

        // Assess
        expect(err).toBeInstanceOf(UpstreamTransportError);
        expect(err).toMatchObject({ sent: true });
        expect(fx.sim.callCount('deductionFlow')).toBe(1);
      },
    );

    it('a failure code keeps code and message', async () => {
      // Prepare
      addChannel();

      // Act
      const err = await failure(
        fx.client().deductionFlow({ customerId: '88', trafficGb: new Decimal(1) }),
      );

      // Assess
      expect(err).toMatchObject({ code: 500, upstreamMessage: '客户剩余流量不足' });
      expect(fx.sim.deductions()).toEqual([]);
    });
  });

  describe('Transport failures', () => {
    it.each([
      { fault: { kind: 'status', status: 502 }, kind: 'http-status', httpStatus: 502 },
      { fault: { kind: 'status', status: 503 }, kind: 'http-status', httpStatus: 503 },
      { fault: { kind: 'html' }, kind: 'bad-body', httpStatus: 200 },
      { fault: { kind: 'empty' }, kind: 'bad-body', httpStatus: 200 },
      { fault: { kind: 'reset' }, kind: 'network', httpStatus: undefined },
    ] as const)(
      '$fault.kind $fault.status: $kind error, sent',
      async ({ fault, kind, httpStatus }) => {
        // Prepare
        fx.sim.addFault({ ...fault, endpoint: 'getFlowTotalFull' });

        // Act
        const err = await failure(
          fx.client({ retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } }).getFlowTotalFull(),
        );

        // Assess
        expect(err).toBeInstanceOf(UpstreamTransportError);
        expect(err).toMatchObject({ kind, httpStatus, sent: true, transient: true });
      },
    );

    it.each([
      { kind: 'status', status: 500 },
      { kind: 'html' },
      { kind: 'empty' },
      { kind: 'reset' },
      { kind: 'hang' },
    ] as const)(
      'reads retry past a $kind failure: first call fails, second works',
      async (fault) => {
        // Prepare
        fx.sim.setPool('primary', { residualMb: 7 });
        fx.sim.addFault({ ...fault, endpoint: 'getFlowTotalFull', times: 1 });

        // Act
        const totals = await fx.client({ timeoutMs: 300 }).getFlowTotalFull();

        // Assess
        expect(totals.primary.residualMb.toFixed()).toBe('7');
        expect(fx.sim.callCount('getFlowTotalFull')).toBe(2);
      },
    );

    it('a 4xx status is not retried', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'status', status: 400, endpoint: 'flowReport' });

      // Act
      const err = await failure(fx.client().flowReport({}));

      // Assess
      expect(err).toMatchObject({ kind: 'http-status', httpStatus: 400 });
      expect(fx.sim.callCount('flowReport')).toBe(1);
    });

    it('a hang ends in a timeout error on every attempt', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'hang', endpoint: 'getFlowConsumeDetail' });

      // Act
      const err = await failure(fx.client({ timeoutMs: 150 }).getFlowConsumeDetail({}));

      // Assess
      expect(err).toBeInstanceOf(UpstreamTransportError);
      expect(err).toMatchObject({ kind: 'timeout', sent: true });
      expect(fx.sim.callCount('getFlowConsumeDetail')).toBe(3);
    });

    it("the caller's signal bounds the call: aborted, no further attempt", async () => {
      // Prepare
      fx.sim.addFault({ kind: 'hang', endpoint: 'getFlowTotalFull' });

      // Act
      const err = await failure(
        fx.client({ timeoutMs: 20_000 }).getFlowTotalFull({ signal: AbortSignal.timeout(150) }),
      );

      // Assess
      expect(err).toMatchObject({ kind: 'aborted', sent: true });
      expect(fx.sim.callCount('getFlowTotalFull')).toBe(1);
    });

    it("the caller's signal also ends the backoff, with the failure that caused it", async () => {
      // Prepare
      fx.sim.addFault({ kind: 'status', status: 503, endpoint: 'getFlowTotalFull' });
      const client = fx.client({
        retry: { attempts: 5, baseDelayMs: 30_000, maxDelayMs: 30_000 },
        random: () => 0.99,
        sleep: undefined,
      });

      // Act
      const err = await failure(client.getFlowTotalFull({ signal: AbortSignal.timeout(200) }));

      // Assess
      expect(err).toMatchObject({ kind: 'http-status', httpStatus: 503 });
      expect(fx.sim.callCount('getFlowTotalFull')).toBe(1);
    });

    it('backs off exponentially with full jitter, bounded by attempts', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'status', status: 503, endpoint: 'getFlowTotalFull', times: 3 });
      const waits: number[] = [];
      const client = fx.client({
        retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 300 },
        random: () => 0.5,
        sleep: async (ms) => {
          waits.push(ms);
        },
      });

      // Act
      await client.getFlowTotalFull();

      // Assess
      expect(waits).toEqual([50, 100, 150]);
      expect(fx.sim.callCount('getFlowTotalFull')).toBe(4);
    });

    it('gives up after the configured attempts', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'status', status: 503, endpoint: 'myRechargeFlowList' });

      // Act
      const err = await failure(fx.client().myRechargeFlowList({}));

      // Assess
      expect(err).toMatchObject({ kind: 'http-status', httpStatus: 503 });
      expect(fx.sim.callCount('myRechargeFlowList')).toBe(3);
    });

    it('a refused connection is a network error with sent: false', async () => {
      // Prepare
      const gone = await startSimulator();
      await gone.close();
      const client = createDynamicTrafficClient({
        baseUrl: gone.url,
        token: TOKEN,
        timeoutMs: 1_000,
        retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      });

      // Act
      const err = await failure(
        client.deductionFlow({ customerId: '88', trafficGb: new Decimal(1) }),
      );

      // Assess
      expect(err).toMatchObject({ kind: 'network', sent: false });
    });

    it('latency within the timeout is only slower', async () => {
      // Prepare
      fx.sim.addFault({ kind: 'latency', delayMs: 50, endpoint: '*' });

      // Act
      const days = await fx.client().getNNIFlowConsumeDetail({});

      // Assess
      expect(days).toEqual([]);
      expect(fx.sim.callCount()).toBe(1);
    });
  });

  describe('Lists and pagination', () => {
    it('4,500 usage rows take exactly 3 flowReport calls of 2,000', async () => {
      // Prepare
      fx.sim.addCustomer({ customerId: '1' });
      fx.sim.generateUsage(4500, { endDate: '2025-12-31', customerIds: ['1', '2', '3'] });

      // Act
      const pages = [];
      for await (const page of flowReportPages(fx.client())) pages.push(page);

      // Assess
      expect(pages.map((p) => p.rows.length)).toEqual([2000, 2000, 500]);
      expect(pages.every((p) => p.total === 4500)).toBe(true);
      expect(fx.sim.callCount('flowReport')).toBe(3);
      expect(fx.sim.calls('flowReport').map((c) => c.query.pageSize)).toEqual([
        '2000',
        '2000',
        '2000',
      ]);
      const keys = new Set(
        pages.flatMap((p) => p.rows.map((r) => `${r.reportDate}#${r.customerId}`)),
      );
      expect(keys.size).toBe(4500);
    });

    it('4,000 rows take 2 calls; none take 1', async () => {
      // Prepare
      fx.sim.generateUsage(4000, { endDate: '2025-12-31', customerIds: ['1', '2'] });

      // Act
      const rows = await collectRows(flowReportPages(fx.client()));
      const callsForAll = fx.sim.callCount('flowReport');
      fx.sim.clearCalls();
      const none = await collectRows(flowReportPages(fx.client(), { customerId: '404' }));

      // Assess
      expect(rows).toHaveLength(4000);
      expect(callsForAll).toBe(2);
      expect(none).toEqual([]);
      expect(fx.sim.callCount('flowReport')).toBe(1);
    });

    it('passes customer and date filters and reads usage rows as decimals', async () => {
      // Prepare
      fx.sim.addUsageRows([
        {
          reportDate: '2025-12-24',
          customerId: '39',
          userName: 'x@y.com',
          uploadMb: '1',
          downloadMb: '2',
        },
        {
          reportDate: '2025-12-25',
          customerId: '39',
          userName: 'x@y.com',
          uploadMb: '596.9',
          downloadMb: '57500.89',
        },
        { reportDate: '2025-12-25', customerId: '40', uploadMb: 3, downloadMb: 4 },
      ]);

      // Act
      const page = await fx.client().flowReport({
        customerId: '39',
        startDate: '2025-12-25',
        endDate: '2025-12-26',
        pageNum: 1,
        pageSize: 10,
      });

      // Assess
      expect(page.total).toBe(1);
      expect(page.rows).toHaveLength(1);
      expect(page.rows[0]).toMatchObject({
        reportDate: '2025-12-25',
        customerId: '39',
        userName: 'x@y.com',
      });
      expect(page.rows[0]?.uploadMb.toFixed()).toBe('596.9');
      expect(page.rows[0]?.downloadMb.toFixed()).toBe('57500.89');
    });

    it('reads recharge records: type filter, negative consumption, operator as text', async () => {
      // Prepare
      addChannel();
      const client = fx.client();
      await client.rechargeTrafficCount({
        customerId: '88',
        orderId: 'o-1',
        trafficGb: new Decimal(1),
      });
      await client.deductionFlow({ customerId: '88', trafficGb: new Decimal('0.25') });

      // Act
      const recharges = await client.myRechargeFlowList({ type: 0 });
      const consumption = await client.myRechargeFlowList({
        type: 1,
        account: 'alice@example.com',
      });

      // Assess
      expect(recharges.rows).toMatchObject([
        { customerId: '88', typeDesc: '充值', account: 'alice@example.com' },
      ]);
      expect(recharges.rows[0]?.flowMb.toFixed()).toBe('1024');
      expect(consumption.rows).toMatchObject([{ customerId: '88', typeDesc: '消耗' }]);
      expect(consumption.rows[0]?.flowMb.toFixed()).toBe('-256');
      expect(consumption.rows[0]?.createTime).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    });

    it('reads the daily consumption and NNI series within the dates asked', async () => {
      // Prepare
      fx.sim.setConsumeSeries([
        { date: '2023-06-20', uploadMb: '6529.83', downloadMb: '21889.75' },
        { date: '2023-06-21', uploadMb: '11423.92', downloadMb: '32335.47' },
        { date: '2023-06-22', uploadMb: 1, downloadMb: 1 },
      ]);
      fx.sim.setNniSeries([
        { date: '2023-06-20', flowMb: '21889.75' },
        { date: '2023-06-23', flowMb: 1 },
      ]);
      const client = fx.client();
      const range = { startDate: '2023-06-20', endDate: '2023-06-21' };

      // Act
      const consume = await client.getFlowConsumeDetail(range);
      const nni = await client.getNNIFlowConsumeDetail(range);

      // Assess
      expect(consume.map((d) => [d.date, d.uploadMb.toFixed(), d.downloadMb.toFixed()])).toEqual([
        ['2023-06-20', '6529.83', '21889.75'],
        ['2023-06-21', '11423.92', '32335.47'],
      ]);
      expect(nni.map((d) => [d.date, d.flowMb.toFixed()])).toEqual([['2023-06-20', '21889.75']]);
    });
  });

  describe('Secrets', () => {
    it('no error carries the token, in its message, string, JSON or inspection', async () => {
      // Prepare
      addChannel();
      const quick = { retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }, timeoutMs: 150 };
      const errors: unknown[] = [];
      const faults = [
        { kind: 'status', status: 503 },
        { kind: 'html' },
        { kind: 'empty' },
        { kind: 'reset' },
        { kind: 'hang' },
        { kind: 'auth' },
        { kind: 'no-data' },
        { kind: 'code', code: 500, msg: '系统繁忙' },
      ] as const;

      // Act
      for (const fault of faults) {
        fx.sim.clearFaults();
        fx.sim.addFault({ ...fault, endpoint: 'getFlowTotalFull' });
        errors.push(await failure(fx.client(quick).getFlowTotalFull()));
      }
      fx.sim.clearFaults();
      errors.push(
        await failure(
          fx
            .client(quick)
            .rechargeTrafficCount({ customerId: '99', orderId: 'o', trafficGb: new Decimal(1) }),
        ),
      );
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount' });
      errors.push(
        await failure(
          fx
            .client(quick)
            .rechargeTrafficCount({ customerId: '88', orderId: 'o', trafficGb: new Decimal(1) }),
        ),
      );

      // Assess
      expect(errors).toHaveLength(10);
      for (const err of errors) {
        expect(err).toBeInstanceOf(UpstreamError);
        const e = err as UpstreamError;
        for (const text of [e.message, String(e), JSON.stringify(e), inspect(e, { depth: 10 })]) {
          expect(text).not.toContain(TOKEN);
        }
      }
      expect(JSON.stringify(fx.sim.calls())).not.toContain(TOKEN);
    });
  });
});
