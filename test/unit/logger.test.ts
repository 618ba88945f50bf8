import { describe, expect, it, vi } from 'vitest';
import { infoEnabled, logger } from '../../functions/commons/logger.ts';

describe('logger', () => {
  it('masks values under secret-looking keys, wherever they are nested', () => {
    // Prepare
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const write = vi.spyOn(console, 'info').mockImplementation((...args) => {
      lines.push(args.map(String).join(' '));
    });

    // Act
    logger.info('calling upstream', {
      endpoint: 'getFlowTotalFull',
      headers: { token: 'tok-SECRET-1', accept: 'application/json' },
      stripeSignature: 't=1,v1=abc',
      nested: [{ apiKey: 'k-SECRET-2' }],
    });
    spy.mockRestore();
    write.mockRestore();

    // Assess
    const text = lines.join('\n');
    expect(text).toContain('getFlowTotalFull');
    expect(text).toContain('application/json');
    expect(text).not.toMatch(/SECRET|v1=abc/);
    expect(text).toContain('[redacted]');
  });

  it('says an INFO line would be written exactly when the logger writes one', () => {
    // Prepare
    const level = logger.getLevelName();
    const written: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const info = vi.spyOn(console, 'info').mockImplementation((...args) => {
      written.push(args.map(String).join(' '));
    });

    // Act
    const seen = (['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const).map((name) => {
      logger.setLogLevel(name);
      written.length = 0;
      logger.info('probe');
      return { name, enabled: infoEnabled(), wrote: written.length > 0 };
    });
    logger.setLogLevel(level);
    out.mockRestore();
    info.mockRestore();

    // Assess
    expect(seen.map((s) => s.enabled)).toEqual([true, true, false, false, false]);
    expect(seen.map((s) => s.wrote)).toEqual(seen.map((s) => s.enabled));
  });

  it('sees a level set while the logger is built (debug sampling), and every change after it', async () => {
    // Prepare: a fresh logger at WARN that samples every invocation into DEBUG.
    vi.resetModules();
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'WARN');
    vi.stubEnv('POWERTOOLS_LOGGER_SAMPLE_RATE', '1');
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => {});
    try {
      const fresh = await import('../../functions/commons/logger.ts');

      // Act
      const sampled = fresh.infoEnabled();
      fresh.logger.setLogLevel('ERROR');
      const afterChange = fresh.infoEnabled();

      // Assess
      expect(fresh.logger.getLevelName()).toBe('ERROR');
      expect([sampled, afterChange]).toEqual([true, false]);
    } finally {
      out.mockRestore();
      info.mockRestore();
      debug.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});
