import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDynamicTrafficClient,
  MAX_UPSTREAM_BODY_BYTES,
} from '../../functions/commons/upstream/client.ts';
import { UpstreamTransportError } from '../../functions/commons/upstream/errors.ts';

/** An upstream that answers a valid envelope padded to `size` bytes, declared or streamed. */
let server: Server;
let base: string;
let bytesWritten = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? 0);
    const declared = req.url?.includes('declared=1') ?? false;
    const envelope = '{"code":200,"msg":"ok","data":{"pad":"';
    const tail = '"}}';
    const padding = Math.max(0, size - envelope.length - tail.length);
    res.writeHead(200, {
      'content-type': 'application/json',
      ...(declared ? { 'content-length': String(envelope.length + padding + tail.length) } : {}),
    });
    res.write(envelope);
    // Streamed in 64 KB chunks; stops early when the client goes away.
    const chunk = 'x'.repeat(65_536);
    let left = padding;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        bytesWritten += n;
        if (!res.write(chunk.slice(0, n))) return res.once('drain', pump);
      }
      res.end(tail);
    };
    res.on('close', () => {
      left = 0;
    });
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function client(query: string, maxBodyBytes?: number) {
  return createDynamicTrafficClient({
    baseUrl: base,
    token: 'tok',
    timeoutMs: 10_000,
    retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    // Every endpoint lands on the padded answer; the test's size rides along in the query.
    fetch: (url, init) => {
      const u = new URL(String(url));
      for (const [k, v] of new URLSearchParams(query)) u.searchParams.set(k, v);
      return fetch(u, init);
    },
  });
}

describe('Client: upstream body size limit', () => {
  it('reads a body under the limit', async () => {
    const totals = client('size=2000', 4096).getFlowTotalFull();
    // The padded envelope is no pool totals: the client gets past reading and fails on shape.
    await expect(totals).rejects.not.toThrow(/larger than/);
  });

  it.each([
    ['streamed without a length', 'size=5000000'],
    ['declared by content-length', 'size=5000000&declared=1'],
  ])('stops reading a body %s past the limit, with a clear error', async (_, query) => {
    // Prepare
    bytesWritten = 0;

    // Act
    const err = await client(query, 65_536)
      .getFlowTotalFull()
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(UpstreamTransportError);
    expect(err).toMatchObject({ kind: 'bad-body', sent: true });
    expect((err as Error).message).toBe(
      'upstream getFlowTotalFull sent a body larger than 65536 bytes',
    );
    expect(bytesWritten).toBeLessThan(5_000_000);
  });

  it('has a default limit well above a full usage page', () => {
    expect(MAX_UPSTREAM_BODY_BYTES).toBe(8 * 1024 * 1024);
  });
});
