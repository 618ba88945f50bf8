import { describe, expect, it } from 'vitest';
import { collectRows, paginate, rowsOf } from '../../functions/commons/upstream/paginate.ts';
import type { Page } from '../../functions/commons/upstream/types.ts';

/** A list of `total` numbered rows served `cap` at a time, recording the pages asked. */
function list(total: number, cap = Number.POSITIVE_INFINITY) {
  const asked: number[] = [];
  const fetchPage = async (pageNum: number, pageSize: number): Promise<Page<number>> => {
    asked.push(pageNum);
    const size = Math.min(pageSize, cap);
    const rows = Array.from({ length: total }, (_, i) => i).slice(
      (pageNum - 1) * size,
      pageNum * size,
    );
    return { total, rows };
  };
  return { asked, fetchPage };
}

describe('Function: paginate', () => {
  it.each([
    [4500, [1, 2, 3]],
    [4000, [1, 2]],
    [1999, [1]],
    [0, [1]],
  ])('%i rows at 2,000 a page ask pages %j', async (total, pages) => {
    // Prepare
    const l = list(total);

    // Act
    const rows = await collectRows(paginate((n) => l.fetchPage(n, 2000), { pageSize: 2000 }));

    // Assess
    expect(rows).toHaveLength(total);
    expect(l.asked).toEqual(pages);
  });

  it('yields numbered pages in order with concurrency, never past the end', async () => {
    // Prepare
    const l = list(4500);

    // Act
    const pages = [];
    for await (const p of paginate((n) => l.fetchPage(n, 1000), {
      pageSize: 1000,
      concurrency: 3,
    })) {
      pages.push(p);
    }

    // Assess
    expect(pages.map((p) => p.pageNum)).toEqual([1, 2, 3, 4, 5]);
    expect(pages.map((p) => p.rows[0])).toEqual([0, 1000, 2000, 3000, 4000]);
    expect([...l.asked].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('stops at a short page even when the total claims more', async () => {
    // Prepare
    const fetchPage = async (pageNum: number): Promise<Page<number>> => ({
      total: 50,
      rows: pageNum === 1 ? Array.from({ length: 10 }, (_, i) => i) : [1, 2],
    });

    // Act
    const rows = await collectRows(paginate(fetchPage, { pageSize: 10 }));

    // Assess
    expect(rows).toHaveLength(12);
  });

  it('streams rows one by one', async () => {
    // Prepare
    const l = list(5);

    // Act
    const rows: number[] = [];
    for await (const r of rowsOf(paginate((n) => l.fetchPage(n, 2), { pageSize: 2 }))) rows.push(r);

    // Assess
    expect(rows).toEqual([0, 1, 2, 3, 4]);
    expect(l.asked).toEqual([1, 2, 3]);
  });

  it('rejects a page size below 1', async () => {
    await expect(
      collectRows(paginate(async () => ({ total: 0, rows: [] }), { pageSize: 0 })),
    ).rejects.toThrow(RangeError);
  });
});
