import { describe, expect, it } from 'vitest';
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
});
