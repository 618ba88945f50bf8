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

/**
 * The environment as Lambda would see it: strings as they are, `{ Ref }` through `refs`
 * (what CloudFormation would put there for that resource). Any other intrinsic fails, naming
 * the variable, so a new kind of value gets a deliberate stand-in here.
 */
export function resolveEnvironment(
  fn: DeployedFunction,
  refs: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fn.environment).map(([name, value]) => {
      if (typeof value === 'string') return [name, value];
      const ref = (value as { Ref?: unknown }).Ref;
      const resolved = typeof ref === 'string' ? refs[ref] : undefined;
      if (resolved === undefined) {
        throw new Error(
          `${fn.name ?? fn.logicalId}: cannot resolve ${name}=${JSON.stringify(value)}`,
        );
      }
      return [name, resolved];
    }),
  );
}
