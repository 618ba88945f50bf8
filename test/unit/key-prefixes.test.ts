import { describe, expect, it } from 'vitest';
import { KEY_PREFIXES as alertDigest } from '../../functions/commons/alerts/store/alert-digest.ts';
import { KEY_PREFIXES as alertSilences } from '../../functions/commons/alerts/store/alert-silences.ts';
import { KEY_PREFIXES as alertState } from '../../functions/commons/alerts/store/alert-state.ts';
import { KEY_PREFIXES as autoTopup } from '../../functions/commons/autotopup/store/autotopup.ts';
import { KEY_PREFIXES as checkoutSessions } from '../../functions/commons/autotopup/store/checkout-sessions.ts';
import { KEY_PREFIXES as customerContacts } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { KEY_PREFIXES as noticeState } from '../../functions/commons/customer-notices/store/customer-notice-state.ts';
import { KEY_PREFIXES as noticeOutbox } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { KEY_PREFIXES as customerBalances } from '../../functions/commons/customers/store/customer-balances.ts';
import { KEY_PREFIXES as customerRecords } from '../../functions/commons/customers/store/customer-records.ts';
import { KEY_PREFIXES as ledger } from '../../functions/commons/payments/ledger/ledger-items.ts';
import { KEY_PREFIXES as pollState } from '../../functions/commons/pollers/store/poll-state.ts';
import { KEY_PREFIXES as series } from '../../functions/commons/pollers/store/series.ts';
import { KEY_PREFIXES as snapshots } from '../../functions/commons/pollers/store/snapshots.ts';
import { KEY_PREFIXES as usage } from '../../functions/commons/pollers/store/usage.ts';
import { KEY_PREFIXES as poolRefills } from '../../functions/commons/pool-ledger/store/pool-refills.ts';
import { KEY_PREFIXES as portal } from '../../functions/commons/portal/store.ts';
import { KEY_PREFIXES as reconcile } from '../../functions/commons/reconcile/report-store.ts';
import type { KeyPrefix } from '../../functions/commons/store/values.ts';

/** Every store module's key prefixes, by module: all items share one table and gsi1. */
const STORES: Record<string, readonly KeyPrefix[]> = {
  'alerts/alert-digest': alertDigest,
  'alerts/alert-silences': alertSilences,
  'alerts/alert-state': alertState,
  'autotopup/autotopup': autoTopup,
  'autotopup/checkout-sessions': checkoutSessions,
  'customer-notices/customer-contacts': customerContacts,
  'customer-notices/customer-notice-state': noticeState,
  'customer-notices/notice-outbox': noticeOutbox,
  'customers/customer-balances': customerBalances,
  'customers/customer-records': customerRecords,
  'payments/ledger': ledger,
  'pollers/poll-state': pollState,
  'pollers/series': series,
  'pollers/snapshots': snapshots,
  'pollers/usage': usage,
  'pool-ledger/pool-refills': poolRefills,
  'portal/store': portal,
  'reconcile/report-store': reconcile,
};

/** One is the other or begins it: a key built on one could be a key built on the other. */
const overlap = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

/** Two entries could address the same item: same index, pk prefixes and sk prefixes overlap. */
const couldCollide = (a: KeyPrefix, b: KeyPrefix) =>
  (a.index ?? 'table') === (b.index ?? 'table') && overlap(a.pk, b.pk) && overlap(a.sk, b.sk);

const entries = Object.entries(STORES).flatMap(([store, prefixes]) =>
  prefixes.map((p) => ({ store, ...p })),
);

describe('key prefixes across capabilities', () => {
  it('every store module declares its prefixes', () => {
    for (const [store, prefixes] of Object.entries(STORES)) {
      expect(prefixes.length, store).toBeGreaterThan(0);
    }
  });

  it('no two prefixes can address the same item', () => {
    const collisions = entries.flatMap((a, i) =>
      entries
        .slice(i + 1)
        .filter((b) => couldCollide(a, b))
        .map((b) => `${a.store} ${a.pk}/${a.sk} ~ ${b.store} ${b.pk}/${b.sk}`),
    );
    expect(collisions).toEqual([]);
  });

  it('finds a collision where one pk prefix begins another with overlapping sort keys', () => {
    expect(couldCollide({ pk: 'USAGE', sk: 'DAY#' }, { pk: 'USAGEDAY#', sk: '' })).toBe(true);
    expect(couldCollide({ pk: 'CUSTOMER#', sk: 'BALANCE' }, { pk: 'CUSTOMER#', sk: 'REC#' })).toBe(
      false,
    );
    expect(couldCollide({ pk: 'ORDERS#', sk: '' }, { index: 'gsi1', pk: 'ORDERS#', sk: '' })).toBe(
      false,
    );
  });
});
