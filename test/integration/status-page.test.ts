import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import {
  type PoolSnapshot,
  SnapshotStore,
} from '../../functions/commons/pollers/store/snapshots.ts';
import { addDays, gbToMb } from '../../functions/commons/units.ts';
import { statusDepsFor, statusPageHandler } from '../../local/status/page.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// 04:00 UTC is noon in Asia/Shanghai: yesterday upstream is 2026-03-09.
const NOW = new Date('2026-03-10T04:00:00.000Z');
const DAYS = 14;
const CONSUMPTION_DAYS = 10;

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are). */
function decodePng(png: Buffer): {
  width: number;
  height: number;
  rgba: (x: number, y: number) => number[];
} {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < png.length) {
    const length = png.readUInt32BE(pos);
    const type = png.toString('ascii', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8]).toBe(8); // bit depth
      expect(data[12]).toBe(0); // no interlace
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i] ?? 0;
      const a = i >= channels ? (out[y * stride + i - channels] ?? 0) : 0;
      const b = y > 0 ? (out[(y - 1) * stride + i] ?? 0) : 0;
      const c = y > 0 && i >= channels ? (out[(y - 1) * stride + i - channels] ?? 0) : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter] ?? 0;
      out[y * stride + i] = (x + predictor) & 0xff;
    }
  }
  return {
    width,
    height,
    rgba: (x, y) => [...out.subarray(y * stride + x * channels, y * stride + (x + 1) * channels)],
  };
}

/** Pixels within a small distance of a colour (anti-aliasing shifts edges a little). */
function countColour(png: Buffer, hex: string): number {
  const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  const img = decodePng(png);
  let n = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const px = img.rgba(x, y);
      if (want.every((v, i) => Math.abs(v - (px[i] ?? 0)) <= 12)) n++;
    }
  }
  return n;
}

async function seed(table: TestTable): Promise<void> {
  const snapshots = new SnapshotStore(table.doc, table.tableName);
  const snaps: PoolSnapshot[] = [];
  // Every 4 hours over 12 days: primary falls from 900 GB, secondary from 3000 GB.
  for (let h = 12 * 24; h >= 0; h -= 4) {
    const at = new Date(NOW.getTime() - h * 3_600_000).toISOString();
    const step = (12 * 24 - h) / 4;
    for (const [pool, start, perStep] of [
      ['primary', 900, 9],
      ['secondary', 3000, 4],
    ] as const) {
      snaps.push({
        pool,
        at,
        pollId: `p${h}`,
        rechargedMb: gbToMb(5000),
        consumedMb: gbToMb(5000 - start + perStep * step),
        residualMb: gbToMb(start - perStep * step),
      });
    }
  }
  await snapshots.put(snaps);
  const series = new SeriesStore(table.doc, table.tableName);
  await series.putConsume(
    Array.from({ length: CONSUMPTION_DAYS }, (_, i) => ({
      day: addDays('2026-03-09', -i),
      uploadMb: gbToMb(5 + i),
      downloadMb: gbToMb(40 + 3 * i),
    })),
    NOW,
  );
  await new PollStateStore(table.doc, table.tableName).recordSuccess('poll-totals', NOW);
  await new AlertStateStore({ tableName: table.tableName, client: table.doc }).save(
    {
      rule: 'forecast',
      subject: 'primary',
      status: 'critical',
      version: 1,
      openedAt: NOW,
      summary: 'primary pool runs out in 1.9 days <at the 7-day burn>',
      updatedAt: NOW,
    },
    undefined,
  );
}

describe('status page in headless Chromium', () => {
  let table: TestTable;
  let server: Server;
  let url: string;
  let browser: Browser;
  const shots = mkdtempSync(join(tmpdir(), 'flowpilot-status-'));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is required at ${CHROMIUM} for this test: apt-get install chromium`,
      );
    }
    table = await createTestTable('status-page');
    await seed(table);
    const config = parseConfig({});
    const handle = statusPageHandler({
      ...statusDepsFor(table.doc, table.tableName, config, () => NOW),
      days: DAYS,
    });
    server = createServer((req, res) => {
      void handle(req.method ?? 'GET').then((answer) => {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('draws both charts with their series and bars, the pool table and the open alert', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));

    // Act
    const response = await page.goto(url);
    const lines = page.locator('svg.chart-line path.series');
    const bars = page.locator('svg.chart-bar rect.bar');
    const lineBoxes = await lines.evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { series: e.getAttribute('data-series'), width: r.width, height: r.height };
      }),
    );
    const barBoxes = await bars.evaluateAll((els) =>
      els.map((e) => e.getBoundingClientRect()).map((r) => ({ width: r.width, height: r.height })),
    );
    const residualShot = await page.locator('#residual-chart').screenshot();
    const consumptionShot = await page.locator('#consumption-chart').screenshot();
    writeFileSync(join(shots, 'residual.png'), residualShot);
    writeFileSync(join(shots, 'consumption.png'), consumptionShot);
    writeFileSync(join(shots, 'page.png'), await page.screenshot({ fullPage: true }));

    // Assess
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(requests).toEqual([url]); // nothing else fetched
    expect(lineBoxes.map((b) => b.series)).toEqual(['primary', 'secondary']);
    for (const box of lineBoxes) {
      expect(box.width).toBeGreaterThan(400);
      expect(box.height).toBeGreaterThan(5);
    }
    expect(barBoxes).toHaveLength(CONSUMPTION_DAYS);
    for (const box of barBoxes) {
      expect(box.width).toBeGreaterThan(10);
      expect(box.height).toBeGreaterThan(20);
    }
    // The pixels are there: each chart shows its series' colours.
    expect(residualShot.length).toBeGreaterThan(5_000);
    expect(countColour(residualShot, '#2563eb')).toBeGreaterThan(300);
    expect(countColour(residualShot, '#16a34a')).toBeGreaterThan(300);
    expect(countColour(consumptionShot, '#f59e0b')).toBeGreaterThan(5_000);
    expect(await page.locator('table.pools tbody tr').count()).toBe(2);
    expect(await page.locator('tr[data-pool="primary"] td').allTextContents()).toEqual([
      '252 GB',
      '5.0%',
      '4.4',
      '57 GB (7-day average)',
      '2026-03-10 04:00 UTC',
    ]);
    expect(await page.locator('table.alerts tbody td').allTextContents()).toContain(
      'primary pool runs out in 1.9 days <at the 7-day burn>',
    );
    await page.close();
  });

  it('shows "No data yet" charts for an empty table', async () => {
    // Prepare
    const empty = await createTestTable('status-empty');
    const handle = statusPageHandler(
      statusDepsFor(empty.doc, empty.tableName, parseConfig({}), () => NOW),
    );

    // Act
    const answer = await handle('GET');
    const refused = await handle('POST');

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body.match(/class="chart chart-empty"/g)).toHaveLength(2);
    expect(answer.body).toContain('No snapshot yet for: primary, secondary.');
    expect(answer.body).not.toContain('<script');
    expect(refused.status).toBe(405);
  });
});
