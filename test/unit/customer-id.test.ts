import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCustomerId } from '../../functions/commons/autotopup/settings.ts';
import { canonicalCustomerId } from '../../functions/commons/customer-id.ts';

describe('Function: canonicalCustomerId', () => {
  it('spells one customer one way', () => {
    expect(['89', '089', '0089', 89].map(canonicalCustomerId)).toEqual(['89', '89', '89', '89']);
  });

  it('refuses what is not a customer id', () => {
    for (const bad of ['', '0', '000', '-1', '8.9', '1e3', 'x89', '1'.repeat(21), -1, 1.5, null]) {
      expect(canonicalCustomerId(bad)).toBeUndefined();
    }
  });

  it('is the spelling auto top-up keys and guards customers by', () => {
    const spelling = fc.oneof(
      fc.stringMatching(/^0{0,3}\d{1,18}$/),
      fc.stringMatching(/^[\d ]{0,5}$/),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(spelling, (raw) => {
        const canonical = canonicalCustomerId(raw);
        if (canonical === undefined) expect(() => checkCustomerId(raw)).toThrow();
        else {
          expect(checkCustomerId(raw)).toBe(canonical);
          expect(canonical).toBe(BigInt(raw.trim()).toString());
        }
      }),
      { numRuns: 200, seed: 27 },
    );
  });
});
