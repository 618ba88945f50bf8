import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { ConfigInput } from '../../functions/commons/config/schema.ts';
import { PROJECT_ROOT } from '../../infra/bundling.ts';
import { FUNCTION_NAME_TAG } from '../../infra/constructs/function.ts';
import { buildApp, STACK_NAME } from '../../infra/main.ts';

type Resource = { Type: string; Properties?: Record<string, unknown> };

export interface DeployedFunction {
  readonly logicalId: string;
  /** The `flowpilot:function` tag; undefined for a Lambda that is not a FlowPilotFunction. */
  readonly name: string | undefined;
  readonly runtime: unknown;
  /** `index.handler` style: file (without extension) and export. */
  readonly handler: string;
  readonly timeoutSeconds: number;
  /** Directory of the unzipped asset, inside the cloud assembly. */
  readonly assetDir: string;
  /** Variables as the template gives them (strings or CloudFormation intrinsics). */
  readonly environment: Record<string, unknown>;
}

export interface DeployedStack {
  readonly directory: string;
  readonly resources: Record<string, Resource>;
  readonly functions: DeployedFunction[];
}

/** The `context` of cdk.json (feature flags included), as `cdk synth` applies it. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * Synthesizes the stack as `cdk synth` does (cdk.json context, real esbuild bundling,
 * cdk-nag) into `outdir`, offline, and reads back what `cdk deploy` would upload: each
 * Lambda's asset directory from the assets manifest, keyed by its S3 object key.
 */
export function synthDeployed(config: ConfigInput, outdir: string): DeployedStack {
  const app = new App({ outdir, context: { ...cdkJsonContext(), flowpilot: config } });
  buildApp({ app, env: {} });
  const assembly = app.synth();
  const stack = assembly.getStackByName(STACK_NAME);
  const resources = (stack.template as { Resources: Record<string, Resource> }).Resources;
  const assets = JSON.parse(
    readFileSync(join(assembly.directory, `${STACK_NAME}.assets.json`), 'utf8'),
  ) as {
    files: Record<
      string,
      { source: { path: string }; destinations: Record<string, { objectKey: string }> }
    >;
  };
  const assetByKey = new Map<string, string>();
  for (const file of Object.values(assets.files)) {
    for (const destination of Object.values(file.destinations)) {
      assetByKey.set(destination.objectKey, join(assembly.directory, file.source.path));
    }
  }
  const functions = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([logicalId, r]): DeployedFunction => {
      const p = r.Properties ?? {};
      const key = (p.Code as { S3Key?: unknown } | undefined)?.S3Key;
      const assetDir = typeof key === 'string' ? assetByKey.get(key) : undefined;
      if (!assetDir) throw new Error(`${logicalId}: no file asset for its code (${String(key)})`);
      const tags = (p.Tags ?? []) as { Key: string; Value: string }[];
      return {
        logicalId,
        name: tags.find((t) => t.Key === FUNCTION_NAME_TAG)?.Value,
        runtime: p.Runtime,
        handler: String(p.Handler),
        timeoutSeconds: Number(p.Timeout ?? 3),
        assetDir,
        environment:
          (p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {},
      };
    });
  return { directory: assembly.directory, resources, functions };
}

/** A string, a `{ Ref }` through `refs`, or an `Fn::Join` of those; else undefined. */
function resolveValue(value: unknown, refs: Record<string, string>): string | undefined {
  if (typeof value === 'string') return value;
  const ref = (value as { Ref?: unknown }).Ref;
  if (typeof ref === 'string') return refs[ref];
  const join = (value as { 'Fn::Join'?: unknown })['Fn::Join'];
  if (!Array.isArray(join) || typeof join[0] !== 'string' || !Array.isArray(join[1])) {
    return undefined;
  }
  const parts = (join[1] as unknown[]).map((part) => resolveValue(part, refs));
  return parts.every((part) => part !== undefined) ? parts.join(join[0]) : undefined;
}

/**
 * The environment as Lambda would see it: strings as they are, `{ Ref }` through `refs`
 * (what CloudFormation would put there for that resource), and `Fn::Join` of those. Any other
 * intrinsic fails, naming the variable, so a new kind of value gets a deliberate stand-in here.
 */
export function resolveEnvironment(
  fn: DeployedFunction,
  refs: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fn.environment).map(([name, value]) => {
      const resolved = resolveValue(value, refs);
      if (resolved === undefined) {
        throw new Error(
          `${fn.name ?? fn.logicalId}: cannot resolve ${name}=${JSON.stringify(value)}`,
        );
      }
      return [name, resolved];
    }),
  );
}
