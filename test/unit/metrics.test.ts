import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { recordNotice } from '../../functions/commons/customer-notices/metrics.ts';
import {
  emfDocument,
  type MetricUnitName,
  metricsOutput,
  recordResidual,
  recordWebhookOutcome,
} from '../../functions/commons/observability.ts';
import { Decimal } from '../../functions/commons/units.ts';

/** The embedded metric format documents CloudWatch Logs turns into the dashboard's metrics. */
function capture(): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(metricsOutput, 'write').mockImplementation((line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return lines;
}

// The test configuration switches metrics off for every other test; these want them on.
const switchedOn = metricsOutput.enabled;
beforeEach(() => {
  metricsOutput.enabled = true;
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  metricsOutput.enabled = switchedOn;
});

describe('EMF metrics', () => {
  it('writes one document per figure with the service and its own dimension', () => {
    // Prepare
    const docs = capture();

    // Act
    recordResidual('main', new Decimal('1536.25'));

    // Assess
    expect(docs).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'FlowPilot',
              Dimensions: [['service', 'Pool']],
              Metrics: [{ Name: 'ResidualMb', Unit: 'Megabytes' }],
            },
          ],
        },
        service: 'flowpilot',
        Pool: 'main',
        ResidualMb: 1536.25,
      },
    ]);
    const stamp = (docs[0]?._aws as { Timestamp?: number } | undefined)?.Timestamp ?? 0;
    expect(Math.abs(stamp - Date.now())).toBeLessThan(60_000);
  });

  it('counts a credited delivery by outcome and as a credit, each in its own document', () => {
    // Prepare
    const docs = capture();

    // Act
    recordWebhookOutcome('credited');
    recordWebhookOutcome('duplicate');

    // Assess
    expect(docs.map(({ _aws, ...figure }) => figure)).toEqual([
      { service: 'flowpilot', Outcome: 'credited', WebhookOutcome: 1 },
      { service: 'flowpilot', TopUpCredited: 1 },
      { service: 'flowpilot', Outcome: 'duplicate', WebhookOutcome: 1 },
    ]);
    expect(
      docs.map(
        (d) =>
          (d._aws as { CloudWatchMetrics: { Dimensions: unknown }[] }).CloudWatchMetrics[0]
            ?.Dimensions,
      ),
    ).toEqual([[['service', 'Outcome']], [['service']], [['service', 'Outcome']]]);
  });

  it('counts customer notices by channel and leaves printed ones out', () => {
    // Prepare
    const docs = capture();

    // Act
    recordNotice('failed', { channel: 'sms' });
    recordNotice('printed', { channel: 'email' });

    // Assess
    expect(docs.map(({ _aws, ...figure }) => figure)).toEqual([
      { service: 'flowpilot', Channel: 'sms', CustomerNoticeFailed: 1 },
    ]);
  });

  it('writes nothing where metrics are switched off (the local runtime, the benches)', () => {
    // Prepare
    const docs = capture();
    metricsOutput.enabled = false;

    // Act
    recordResidual('main', new Decimal(1));

    // Assess
    expect(docs).toEqual([]);
  });

  it('is switched off by POWERTOOLS_METRICS_DISABLED=true when the process starts, and only then', async () => {
    // Prepare
    const started = async (value: string | undefined) => {
      vi.resetModules();
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', value);
      const fresh = await import('../../functions/commons/observability.ts');
      return fresh.metricsOutput.enabled;
    };

    // Act
    const seen = [await started('true'), await started('false'), await started(undefined)];

    // Assess
    expect(seen).toEqual([false, true, true]);
  });

  it('writes the same text as serializing the whole document, for any name, value and dimension', () => {
    // Prepare: the document as JSON.stringify writes it, key order included.
    const whole = (
      name: string,
      unit: MetricUnitName,
      value: number,
      dimension: readonly [string, string] | undefined,
      timestamp: number,
    ) =>
      JSON.stringify({
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [
            {
              Namespace: 'FlowPilot',
              Dimensions: [dimension ? ['service', dimension[0]] : ['service']],
              Metrics: [{ Name: name, Unit: unit }],
            },
          ],
        },
        service: 'flowpilot',
        ...(dimension ? { [dimension[0]]: dimension[1] } : {}),
        [name]: value,
      });
    const cases: [string, MetricUnitName, number, readonly [string, string] | undefined][] = [
      ['WebhookOutcome', 'Count', 1, ['Outcome', 'credited']],
      // The same frame again with other values: nothing of the first call is kept but the frame.
      ['WebhookOutcome', 'Count', 2, ['Outcome', 'refused-400 "quoted" \u00e9 \n']],
      ['WebhookOutcome', 'Megabytes', 1.5, ['Outcome', 'x']],
      ['WebhookOutcome', 'Count', 1, ['Pool', 'main']],
      ['TopUpCredited', 'Count', 1, undefined],
      ['ResidualMb', 'Megabytes', 1536.25, ['Pool', 'main']],
      ['ResidualMb', 'Megabytes', Number.NaN, ['Pool', 'main']],
      ['ResidualMb', 'Megabytes', -0, undefined],
      // Keys the document has, or that JSON orders first, or a dimension named as the metric.
      ['service', 'Count', 1, ['Outcome', 'x']],
      ['Odd', 'Count', 1, ['_aws', 'x']],
      ['Odd', 'Count', 1, ['Odd', 'x']],
      ['7', 'Count', 1, ['Outcome', 'x']],
      ['Odd', 'Count', 1, ['12', 'x']],
      ['Quo"te', 'Count', 3, ['Dim"en\\sion', 'v']],
      // Names that join into the same text once separated (A|Count + Count, A + Count|Count).
      ['A|Count', 'Count', 1, undefined],
      ['A', 'Count', 1, ['Count', 'x']],
      ['WebhookOutcome', 'Count', 1, ['', '']],
      ['WebhookOutcome', 'Count', 1, undefined],
    ];

    // Act: every case three times over, with other timestamps, so that what was kept from an
    // earlier call is used, and never for another name, unit, dimension or value.
    for (const timestamp of [1_796_149_068_563, 0, Number.NaN]) {
      for (const [name, unit, value, dimension] of cases) {
        const text = emfDocument(name, unit, value, dimension, timestamp);

        // Assess
        expect(text).toBe(whole(name, unit, value, dimension, timestamp));
      }
    }
    // Many outcomes and values: past what is kept, still each its own text.
    for (let i = 0; i < 100; i++) {
      const dimension = ['Outcome', `outcome-${i % 70}`] as const;
      expect(emfDocument('WebhookOutcome', 'Count', i % 20, dimension, i)).toBe(
        whole('WebhookOutcome', 'Count', i % 20, dimension, i),
      );
    }
  });
});
