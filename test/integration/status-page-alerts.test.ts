import { describe, expect, it } from 'vitest';
import { SilenceStore } from '../../functions/commons/alerts/store/alert-silences.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { statusDepsFor, statusPageHandler } from '../../local/status/page.ts';
import { createTestTable } from '../helpers/dynamo.ts';

const NOW = new Date('2026-03-10T04:00:00.000Z');

describe('Status page: alerts held back', () => {
  it('shows a silenced alert with its silence, and an acknowledged one with its ack', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('status-alerts');
    const alerts = new AlertStateStore({ client: doc, tableName });
    const base = {
      status: 'critical' as const,
      version: 1,
      openedAt: new Date('2026-03-10T03:00:00Z'),
      updatedAt: new Date('2026-03-10T03:00:00Z'),
    };
    await alerts.save(
      {
        ...base,
        rule: 'low-residual',
        subject: 'primary',
        summary: 'primary pool low',
        heldNotice: 'opened',
        quieted: 'silenced',
      },
      undefined,
    );
    await alerts.save(
      {
        ...base,
        rule: 'topup-failed',
        subject: 'stripe#pi_1',
        summary: 'Top-up failed',
        ack: { at: NOW, by: 'ana' },
      },
      undefined,
    );
    await new SilenceStore(doc, tableName).add({
      id: 's-1234abcd',
      rule: 'low-residual',
      subject: 'primary',
      startsAt: new Date('2026-03-10T02:00:00Z'),
      endsAt: new Date('2026-03-10T06:00:00Z'),
      reason: 'refill <ordered>',
      createdAt: new Date('2026-03-10T02:00:00Z'),
    });
    const handle = statusPageHandler(statusDepsFor(doc, tableName, parseConfig({}), () => NOW));

    // Act
    const { body } = await handle('GET');

    // Assess
    expect(body).toContain('<th>Silence / ack</th>');
    expect(body).toContain(
      '<td>primary pool low</td><td>silenced until 2026-03-10 06:00 UTC (s-1234abcd: refill &#60;ordered&#62;)</td>',
    );
    expect(body).toContain('<td>Top-up failed</td><td>acknowledged by ana</td>');
  });
});
