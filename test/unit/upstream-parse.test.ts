import { describe, expect, it } from 'vitest';
import {
  customerId,
  parseFlowTotals,
  parseRecordPage,
  parseUsagePage,
  ShapeError,
} from '../../functions/commons/upstream/parse.ts';

const pool = (over: Record<string, unknown> = {}) => ({
  consumeFlow: 0.0,
  'residualFlow ': 5242880.0,
  flowCount: 5242880,
  residualFlow: 5242880.0,
  ...over,
});

describe('Module: upstream parse', () => {
  describe('Function: parseFlowTotals', () => {
    it('prefers the exact residualFlow key over its trailing-space twin', () => {
      // Act
      const totals = parseFlowTotals({
        account: pool({ residualFlow: '10.5', 'residualFlow ': '99' }),
        account2: pool(),
      });

      // Assess
      expect(totals.primary.residualMb.toFixed()).toBe('10.5');
      expect(totals.secondary.rechargedMb.toFixed()).toBe('5242880');
    });

    it('falls back to the trailing-space key when the exact one is missing', () => {
      // Act
      const totals = parseFlowTotals({
        account: { consumeFlow: '0.00', flowCount: '5', 'residualFlow ': '4.75' },
        account2: pool(),
      });

      // Assess
      expect(totals.primary.residualMb.toFixed()).toBe('4.75');
      expect(totals.primary.consumedMb.toFixed()).toBe('0');
    });

    it.each([
      ['no account2', { account: pool() }],
      ['account is null', { account: null, account2: pool() }],
      [
        'residual is not a number',
        { account: pool({ residualFlow: 'lots', 'residualFlow ': 'x' }), account2: pool() },
      ],
      ['flowCount missing', { account: pool({ flowCount: undefined }), account2: pool() }],
      ['data is an array', []],
    ])('rejects an invalid shape: %s', (_, data) => {
      expect(() => parseFlowTotals(data)).toThrow(ShapeError);
    });
  });

  describe('Function: customerId', () => {
    it('reads Long, Integer and String ids as strings of digits', () => {
      expect(customerId(39)).toBe('39');
      expect(customerId('12345')).toBe('12345');
      expect(customerId(' 7 ')).toBe('7');
    });

    it.each([-1, 1.5, 'abc', '', null, 2 ** 60])('rejects %s', (value) => {
      expect(() => customerId(value)).toThrow(ShapeError);
    });
  });

  describe('Function: parseUsagePage', () => {
    it('reads rows and a total given as a string', () => {
      // Act
      const page = parseUsagePage({
        total: '1049',
        rows: [
          {
            reportDate: '2025-12-25',
            customerId: 39,
            userName: 'u',
            uploadFlow: '596.9',
            downloadFlow: 57500.89,
          },
        ],
        code: 200,
        msg: '查询成功',
        other: null,
      });

      // Assess
      expect(page.total).toBe(1049);
      expect(page.rows[0]?.customerId).toBe('39');
      expect(page.rows[0]?.uploadMb.toFixed()).toBe('596.9');
    });

    it.each([
      ['rows missing', { total: 1 }],
      ['total missing', { rows: [] }],
      [
        'bad date',
        {
          total: 1,
          rows: [
            {
              reportDate: '25/12/2025',
              customerId: 1,
              userName: '',
              uploadFlow: 1,
              downloadFlow: 1,
            },
          ],
        },
      ],
      [
        'bad flow',
        {
          total: 1,
          rows: [
            {
              reportDate: '2025-12-25',
              customerId: 1,
              userName: '',
              uploadFlow: null,
              downloadFlow: 1,
            },
          ],
        },
      ],
    ])('rejects %s', (_, data) => {
      expect(() => parseUsagePage(data)).toThrow(ShapeError);
    });
  });

  describe('Function: parseRecordPage', () => {
    it('keeps negative consumption and reads a null operator as empty text', () => {
      // Act
      const page = parseRecordPage({
        total: 1,
        rows: [
          {
            customerId: 12346,
            account: 'customer2',
            flowCount: -20.0,
            typeDesc: '消耗',
            createId: null,
            createBy: null,
            createTime: '2025-11-17 11:15:00',
          },
        ],
      });

      // Assess
      expect(page.rows[0]).toMatchObject({
        customerId: '12346',
        createId: '',
        createBy: '',
        typeDesc: '消耗',
      });
      expect(page.rows[0]?.flowMb.toFixed()).toBe('-20');
    });
  });
});
