import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tsSources } from '../helpers/sources.ts';

const COMMONS = join(import.meta.dirname, '../../functions/commons');

/**
 * Issue #30: payments owns its ledger; other capabilities read it through ledger-read.ts
 * only, never its write side or item shapes.
 */
describe('the payments ledger boundary', () => {
  it('other capabilities import nothing of payments/ledger/ but ledger-read.ts', () => {
    const crossings = tsSources(COMMONS)
      .filter((file) => !relative(COMMONS, file).startsWith('payments/'))
      .flatMap((file) =>
        [...readFileSync(file, 'utf8').matchAll(/from '([^']*payments\/ledger\/[^']*)'/g)]
          .map((m) => m[1] ?? '')
          .filter((spec) => !spec.endsWith('/ledger-read.ts'))
          .map((spec) => `${relative(COMMONS, file)} → ${spec}`),
      );
    expect(tsSources(COMMONS).length).toBeGreaterThan(50);
    expect(crossings).toEqual([]);
  });
});
