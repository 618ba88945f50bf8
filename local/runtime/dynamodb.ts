import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

/**
 * The embedded engine for `npm start` when no DynamoDB endpoint is given: dynalite, pure
 * Node, keeping its data in LevelDB files on disk. Tests use DynamoDB Local instead.
 */
export async function startEmbeddedDynamoDb(
  dir: string,
): Promise<{ endpoint: string; close(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const server = dynalite({ path: dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // Closing the server closes its LevelDB, which flushes what was written.
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
