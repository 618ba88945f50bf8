import { createHash } from 'node:crypto';
import { parseUpstreamDateTime } from '../units.ts';
import type { RechargeRecord } from '../upstream/types.ts';
import { canonicalCustomerId } from './ids.ts';
import type { CustomerRecord } from './store/customer-records.ts';

/**
 * Gives each upstream record a stable key. The upstream has no record id, so the key is the
 * record's own fields plus which of several identical records it is (two equal top-ups in
 * the same second stay two). Counting is per read window of whole days, which always holds
 * every copy of a record, so the n-th copy gets the same key in every run.
 */
export function keyRecords(
  rows: readonly RechargeRecord[],
  type: 0 | 1,
  timeZone: string,
): CustomerRecord[] {
  const seen = new Map<string, number>();
  return rows.map((r) => {
    const customerId = canonicalCustomerId(r.customerId);
    const fields = [customerId, r.account, r.flowMb.toFixed(), r.createBy, r.createId].join(
      '\u0000',
    );
    const digest = createHash('sha256').update(fields).digest('hex').slice(0, 12);
    const base = `${r.createTime}#${type}#${digest}`;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return {
      customerId,
      key: `${base}#${n}`,
      day: r.createTime.slice(0, 10),
      type,
      mb: r.flowMb.abs(),
      account: r.account,
      createBy: r.createBy,
      createId: r.createId,
      createTime: r.createTime,
      at: parseUpstreamDateTime(r.createTime, timeZone).toISOString(),
    };
  });
}
