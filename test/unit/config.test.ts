import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../functions/commons/config/load.ts';
import { ConfigError } from '../../functions/commons/errors.ts';

describe('configuration', () => {
  it('fills every default from an empty document', () => {
    const config = parseConfig({});
    expect(config.upstream.timeZone).toBe('Asia/Shanghai');
    expect(config.schedules.pollTotals).toBe('rate(5 minutes)');
    expect(config.polling.pageSize).toBe(2000);
  });

  it('names each wrong key and why', () => {
    const attempt = () =>
      parseConfig({
        upstream: { baseUrl: 'ftp://x', timeZone: 'Mars/Olympus' },
        schedules: { pollTotals: 'every 5 minutes' },
        polling: { pageSize: 5000 },
        surprise: true,
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      const message = (err as ConfigError).message;
      expect(message).toMatch(/upstream\.baseUrl: must be an http\(s\) URL/);
      expect(message).toMatch(/upstream\.timeZone: must be an IANA time zone/);
      expect(message).toMatch(/schedules\.pollTotals: must be rate/);
      expect(message).toMatch(/polling\.pageSize/);
      expect(message).toMatch(/surprise: unknown key/);
    }
  });

  it('loads inline JSON first, then the named file, then defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-config-'));
    const file = join(dir, 'custom.json');
    writeFileSync(file, JSON.stringify({ polling: { backfillDays: 7 } }));
    expect(loadConfig({ FLOWPILOT_CONFIG: file }, dir).config.polling.backfillDays).toBe(7);
    expect(
      loadConfig(
        { FLOWPILOT_CONFIG_JSON: '{"polling":{"backfillDays":3}}', FLOWPILOT_CONFIG: file },
        dir,
      ).config.polling.backfillDays,
    ).toBe(3);
    expect(loadConfig({}, dir).source).toBe('built-in defaults');
    writeFileSync(file, '{ not json');
    expect(() => loadConfig({ FLOWPILOT_CONFIG: file }, dir)).toThrow(/not JSON/);
    expect(() => loadConfig({ FLOWPILOT_CONFIG: join(dir, 'missing.json') }, dir)).toThrow(
      /cannot read configuration file/,
    );
  });
});
