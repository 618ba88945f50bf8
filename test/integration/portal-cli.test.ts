import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { portalKeys } from '../../functions/commons/portal/tokens.ts';
import { createPortalHandler } from '../../functions/portal.ts';
import { type CliIo, createContext } from '../../local/cli/context.ts';
import { run } from '../../local/cli/main.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { KEY, OLD_KEY, portalDeps, portalEvent, type Result } from '../helpers/portal.ts';

const NOW = new Date('2026-11-20T04:00:00.000Z');

class Out {
  text = '';
  isTTY = false;
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}

let table: TestTable;
const stdout = new Out();
const stderr = new Out();

async function cli(env: NodeJS.ProcessEnv, config: object, ...argv: string[]): Promise<number> {
  stdout.text = '';
  stderr.text = '';
  // An empty data directory: no running npm start to take a key or an address from.
  const io: CliIo = { stdout, stderr, env, cwd: mkdtempSync(join(tmpdir(), 'fp-link-')) };
  return run(argv, io, {
    openContext: async (_io, { json }) => ({
      ctx: createContext({
        io,
        json,
        config: parseConfig(config),
        doc: table.doc,
        tableName: table.tableName,
        where: 'test table',
        upstream: undefined,
        clock: () => NOW,
      }),
      close: async () => {},
    }),
  });
}

/** Opens a printed link on the page's handler, as a browser would. */
async function open(url: string, key = KEY): Promise<number> {
  const handle = createPortalHandler(() =>
    portalDeps(table.doc, table.tableName, {
      now: () => NOW,
      keys: portalKeys(key),
    }),
  );
  const u = new URL(url);
  return (
    (await handle(
      portalEvent('GET', `${u.pathname}${u.search}`, {
        // Opened from a mail program, as a customer does.
        headers: { 'sec-fetch-site': 'none' },
      }),
    )) as Result
  ).statusCode;
}

const ENV = { PORTAL_SECRET: KEY };
const CONFIG = { portal: { baseUrl: 'https://pay.example.com/' } };

beforeAll(async () => {
  table = await createTestTable('portal-cli');
});

afterAll(() => table?.client.destroy());

describe('CLI: flowpilot customer link', () => {
  it('prints a link under portal.baseUrl that opens the page, valid for --days', async () => {
    // Act
    const code = await cli(ENV, CONFIG, 'customer', 'link', '0088', '--days', '3', '--json');

    // Assess
    expect(code).toBe(0);
    const out = JSON.parse(stdout.text) as { url: string; expires: string; customerId: string };
    expect(out.customerId).toBe('88');
    expect(out.url).toMatch(
      /^https:\/\/pay\.example\.com\/portal\/open\?token=88\.0\.\d+\.[\w-]+$/,
    );
    expect(out.expires).toBe('2026-11-23T04:00:00.000Z');
    expect(await open(out.url)).toBe(303);
    expect(await open(out.url, OLD_KEY)).toBe(403);
  });

  it('--revoke makes every earlier link invalid; the next link works', async () => {
    // Prepare
    await cli(ENV, CONFIG, 'customer', 'link', '90');
    const before = stdout.text.trim();

    // Act
    const revoked = await cli(ENV, CONFIG, 'customer', 'link', '90', '--revoke');
    const revokeOut = stdout.text;
    await cli(ENV, CONFIG, 'customer', 'link', '90');
    const after = stdout.text.trim();

    // Assess
    expect(revoked).toBe(0);
    expect(revokeOut).toMatch(/customer 90: every earlier link .* revoked \(link version 1\)/);
    expect(await open(before)).toBe(403);
    expect(await open(after)).toBe(303);
  });

  it('says what to set when the key or the address is missing, and refuses bad arguments', async () => {
    expect(await cli({}, CONFIG, 'customer', 'link', '88')).toBe(1);
    expect(stderr.text).toContain('PORTAL_SECRET is not set');
    expect(await cli(ENV, {}, 'customer', 'link', '88')).toBe(1);
    expect(stderr.text).toContain('portal.baseUrl');
    expect(await cli(ENV, CONFIG, 'customer', 'link', 'abc')).toBe(2);
    expect(await cli(ENV, CONFIG, 'customer', 'link', '88', '--days', '91')).toBe(2);
    expect(await cli(ENV, CONFIG, 'customer', '88', '--revoke')).toBe(2);
    expect(await cli({ PORTAL_SECRET: 'short' }, CONFIG, 'customer', 'link', '88')).toBe(1);
    expect(stderr.text).not.toContain('short');
  });
});
