import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/**
 * DynamoDB Local (AWS's own engine) for tests and benchmarks. The jar ships inside the npm
 * package amplify-dynamodb-simulator; only its tarball is fetched, into a git-ignored cache,
 * instead of installing the package and its ~300 MB of unrelated dependencies.
 */
const PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const CACHE = resolve(import.meta.dirname, '..', '.cache');
const HOME = join(CACHE, 'ddb-local');
const JAR = join(HOME, 'DynamoDBLocal.jar');

export function ensureDynamoDbLocal(): string {
  if (existsSync(JAR)) return HOME;
  mkdirSync(CACHE, { recursive: true });
  const tgz = execFileSync('npm', ['pack', PACKAGE, '--silent', '--pack-destination', CACHE], {
    encoding: 'utf8',
  }).trim();
  const tarball = join(CACHE, tgz.split('\n').pop() ?? '');
  rmSync(join(CACHE, 'package'), { recursive: true, force: true });
  execFileSync('tar', ['xzf', tarball, '-C', CACHE, 'package/emulator']);
  rmSync(HOME, { recursive: true, force: true });
  execFileSync('mv', [join(CACHE, 'package', 'emulator'), HOME]);
  rmSync(join(CACHE, 'package'), { recursive: true, force: true });
  rmSync(tarball, { force: true });
  return HOME;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port')),
      );
    });
  });
}

const START_WAIT_MS = 300_000;

async function waitUntilUp(
  endpoint: string,
  child: ChildProcess,
  log: () => string,
): Promise<void> {
  // Generous: a loaded two-core machine (CI, parallel test files, a bench beside several
  // engineers' suites) starts the JVM slowly; 120 s was seen to run out.
  const deadline = Date.now() + START_WAIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`DynamoDB Local exited: ${log()}`);
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          'content-type': 'application/x-amz-json-1.0',
          authorization:
            'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: '{}',
      });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`DynamoDB Local did not start within ${START_WAIT_MS / 1000} s: ${log()}`);
}

export interface RunningDynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startDynamoDbLocal(): Promise<RunningDynamoDbLocal> {
  const home = ensureDynamoDbLocal();
  const port = await freePort();
  let output = '';
  const child = spawn(
    'java',
    [
      `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
      '-Xmx1g',
      '-jar',
      JAR,
      '-inMemory',
      '-port',
      String(port),
    ],
    { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.on('error', (err) => {
    output += `\n${err.message} (is Java 17 installed?)`;
  });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilUp(endpoint, child, () => output.slice(-2000));
  return {
    endpoint,
    stop: () =>
      new Promise((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}
