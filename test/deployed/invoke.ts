import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DeployedFunction } from './assembly.ts';

/**
 * Stands in for the Lambda runtime's bootstrap: imports the handler module, calls the export
 * with the event and a context whose deadline is the function's timeout, and writes the
 * outcome to a file (stdout carries the function's own log lines).
 */
const RUNNER = `
import { writeFileSync } from 'node:fs';
const [file, exportName] = process.env._HANDLER.split('.');
const { event, timeoutSeconds, requestId } = JSON.parse(process.argv[2]);
const deadline = Date.now() + timeoutSeconds * 1000;
const context = {
  awsRequestId: requestId,
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  logGroupName: '/aws/lambda/' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  logStreamName: 'deployed-tier',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => deadline - Date.now(),
};
let outcome;
try {
  const mod = await import('./' + file + '.mjs');
  outcome = { result: await mod[exportName](event, context) };
} catch (err) {
  outcome = { error: { name: err?.name, message: err?.message, stack: err?.stack } };
}
writeFileSync('outcome.json', JSON.stringify(outcome ?? { result: null }));
process.exit(0);
`;

export interface Invocation {
  /** What the handler returned, JSON round-tripped as Lambda would. */
  readonly result?: unknown;
  readonly error?: { name?: string; message?: string; stack?: string };
  readonly stdout: string;
  readonly stderr: string;
}

/** True when some ancestor of `dir` holds a node_modules that Node could resolve from. */
export function nodeModulesAbove(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return join(d, 'node_modules');
    if (dirname(d) === d) return undefined;
  }
}

/** A copy of the asset in a fresh directory outside the project, like /var/task. */
export function stageAsset(fn: DeployedFunction): string {
  const taskRoot = mkdtempSync(join(tmpdir(), `flowpilot-${fn.name ?? fn.logicalId}-`));
  cpSync(fn.assetDir, taskRoot, { recursive: true });
  writeFileSync(join(taskRoot, '__runner.mjs'), RUNNER);
  return taskRoot;
}

/**
 * Runs one invocation in a fresh Node process with exactly `env` (nothing inherited from
 * this process), from `taskRoot`, and reads back its outcome.
 */
export function invokeStaged(
  fn: DeployedFunction,
  taskRoot: string,
  env: Record<string, string>,
  event: unknown,
): Promise<Invocation> {
  const payload = JSON.stringify({
    event,
    timeoutSeconds: fn.timeoutSeconds,
    requestId: randomUUID(),
  });
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['__runner.mjs', payload],
      {
        cwd: taskRoot,
        env: { ...env, _HANDLER: fn.handler, LAMBDA_TASK_ROOT: taskRoot },
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${fn.name}: process failed: ${err.message}\n${stderr}`));
          return;
        }
        const outcome = JSON.parse(readFileSync(join(taskRoot, 'outcome.json'), 'utf8'));
        resolve({ ...outcome, stdout, stderr });
      },
    );
  });
}
