import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { ConfigError } from '../../functions/commons/errors.ts';
import { PROJECT_ROOT } from '../../infra/bundling.ts';
import { loadInfraConfig } from '../../infra/config.ts';
import {
  API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
  deploymentIssues,
  FUNCTION_TIMEOUT_SECONDS,
} from '../../infra/limits.ts';
import { buildApp } from '../../infra/main.ts';
import { maxEventAge, scheduleInterval, stoppedWindow } from '../../infra/schedule.ts';
import { FlowPilotStack } from '../../infra/stack.ts';

const run = promisify(execFile);

/** An app that builds the stack without bundling: these tests look at configuration only. */
function appWith(context: Record<string, unknown>): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fp-infra-'));
}

function contextOf(values: Record<string, unknown>) {
  return { tryGetContext: (key: string) => values[key] };
}

describe('infra configuration', () => {
  describe('Function: loadInfraConfig', () => {
    it('prefers the flowpilot context object, then the config context file, then the environment', () => {
      // Prepare
      const dir = tempDir();
      const file = join(dir, 'deploy.json');
      writeFileSync(file, JSON.stringify({ polling: { backfillDays: 9 } }));
      const envFile = join(dir, 'env.json');
      writeFileSync(envFile, JSON.stringify({ polling: { backfillDays: 5 } }));
      const env = { FLOWPILOT_CONFIG: envFile };

      // Act
      const inline = loadInfraConfig(
        contextOf({ flowpilot: { polling: { backfillDays: 3 } }, config: file }),
        env,
        dir,
      );
      const fromCli = loadInfraConfig(contextOf({ flowpilot: '{"polling":{"backfillDays":4}}' }));
      const named = loadInfraConfig(contextOf({ config: 'deploy.json' }), env, dir);
      const fromEnv = loadInfraConfig(contextOf({}), env, dir);
      const defaults = loadInfraConfig(contextOf({}), {}, dir);

      // Assess
      expect(inline.config.polling.backfillDays).toBe(3);
      expect(inline.source).toBe('context "flowpilot"');
      expect(fromCli.config.polling.backfillDays).toBe(4);
      expect(named.config.polling.backfillDays).toBe(9);
      expect(named.source).toBe(file);
      expect(fromEnv.config.polling.backfillDays).toBe(5);
      expect(defaults.source).toBe('built-in defaults');
      expect(defaults.config.schedules.pollTotals).toBe('rate(5 minutes)');
    });

    it('names every wrong key of the context configuration', () => {
      // Prepare
      const app = appWith({
        flowpilot: {
          schedules: { pollTotals: 'every five minutes' },
          notifications: { phoneNumbers: ['5551234'] },
          surprise: 1,
        },
      });

      // Act
      const attempt = () => buildApp({ app, env: {} });

      // Assess
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/schedules\.pollTotals: must be rate/);
      expect(attempt).toThrow(/notifications\.phoneNumbers\.0: must be an E\.164 phone number/);
      expect(attempt).toThrow(/surprise: unknown key/);
    });

    it('rejects a config context that is not a path, and inline JSON that does not parse', () => {
      expect(() => loadInfraConfig(contextOf({ config: 42 }))).toThrow(
        /context "config" must be a file path/,
      );
      expect(() => loadInfraConfig(contextOf({ flowpilot: '{nope' }))).toThrow(
        /invalid context "flowpilot": not JSON/,
      );
    });

    it('refuses a configuration too large for the Lambda environment', () => {
      // Prepare
      const emails = Array.from({ length: 150 }, (_, i) => `person-${i}@example.com`);
      const app = appWith({ flowpilot: { notifications: { emails } } });

      // Act
      const attempt = () => buildApp({ app, env: {} });

      // Assess
      expect(attempt).toThrow(/configuration is \d+ bytes as JSON; at most 3072/);
    });
  });

  describe('deployment limits', () => {
    it('answers payment webhooks before API Gateway gives up on them', () => {
      expect(FUNCTION_TIMEOUT_SECONDS['payment-webhook']).toBeLessThan(
        API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
      );
    });

    it('refuses a payments lease that does not outlast the webhook timeout, naming the key', () => {
      // Prepare
      const webhook = FUNCTION_TIMEOUT_SECONDS['payment-webhook'];
      const app = appWith({ flowpilot: { payments: { leaseSeconds: webhook } } });

      // Act
      const attempt = () => buildApp({ app, env: {} });

      // Assess
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(
        /invalid context "flowpilot":\n {2}payments\.leaseSeconds: must be more than the payment-webhook timeout \(25 s\)/,
      );
      expect(deploymentIssues(parseConfig({ payments: { leaseSeconds: webhook + 1 } }))).toEqual(
        [],
      );
      expect(deploymentIssues(parseConfig({}))).toEqual([]);
    });

    it('refuses it in the stack too, whoever builds the stack', () => {
      // Prepare
      const config = parseConfig({ payments: { leaseSeconds: 10 } });

      // Act
      const attempt = () => new FlowPilotStack(appWith({}), 'Direct', { config });

      // Assess
      expect(attempt).toThrow(/payments\.leaseSeconds: must be more than/);
    });

    it('refuses schedule expressions EventBridge would reject at deploy time', () => {
      // Prepare
      const config = parseConfig({
        schedules: {
          pollTotals: 'rate(1 minutes)',
          pollUsage: 'rate(0 hours)',
          reconcile: 'cron(0 3 * * * *)',
        },
      });
      const fine = parseConfig({
        schedules: {
          pollTotals: 'rate(1 minute)',
          pollUsage: 'rate(2 hours)',
          reconcile: 'cron(0 3 ? * MON-FRI *)',
        },
      });

      // Act
      const issues = deploymentIssues(config);

      // Assess
      expect(issues).toEqual([
        expect.stringMatching(/^schedules\.pollTotals: EventBridge wants "minute" for 1/),
        expect.stringMatching(/^schedules\.pollUsage: a rate must be at least 1/),
        expect.stringMatching(/^schedules\.reconcile: EventBridge wants "\?" in exactly one of/),
      ]);
      expect(deploymentIssues(fine)).toEqual([]);
    });
  });

  describe('cdk synth', () => {
    it('fails with the key named and writes no template when the config file is wrong', async () => {
      // Prepare
      const dir = tempDir();
      const file = join(dir, 'bad.json');
      writeFileSync(file, JSON.stringify({ schedules: { reconcile: 'daily' } }));
      const outdir = join(dir, 'cdk.out');

      // Act
      const result = await run('npx', ['tsx', 'infra/app.ts'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, FLOWPILOT_CONFIG: file, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: '{}' },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );

      // Assess
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`invalid ${file}:`);
      expect(result.stderr).toMatch(/schedules\.reconcile: must be rate/);
      expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
      expect(existsSync(join(outdir, 'FlowPilot.template.json'))).toBe(false);
    }, 60_000);
  });

  describe('schedules', () => {
    it('reads the longest gap between runs from rate and cron expressions', () => {
      const minutes = (d: Duration | undefined) => d?.toMinutes();
      expect(minutes(scheduleInterval('rate(5 minutes)'))).toBe(5);
      expect(minutes(scheduleInterval('rate(1 hour)'))).toBe(60);
      expect(minutes(scheduleInterval('rate(1 day)'))).toBe(1440);
      expect(minutes(scheduleInterval('cron(30 1 * * ? *)'))).toBe(1440);
      expect(minutes(scheduleInterval('cron(15 * * * ? *)'))).toBe(60);
      expect(minutes(scheduleInterval('cron(0/10 * * * ? *)'))).toBe(10);
      expect(minutes(scheduleInterval('cron(0 */6 * * ? *)'))).toBe(360);
      expect(minutes(scheduleInterval('cron(0 8,20 * * ? *)'))).toBe(1440);
    });

    it('has no interval for schedules rarer than daily', () => {
      expect(scheduleInterval('rate(2 days)')).toBeUndefined();
      expect(scheduleInterval('cron(0 3 ? * MON *)')).toBeUndefined();
      expect(scheduleInterval('cron(0 3 1 * ? *)')).toBeUndefined();
    });

    it('watches two intervals, at most a day, in whole hours past one hour', () => {
      const seconds = (d: Duration) => stoppedWindow(d).toSeconds();
      expect(seconds(Duration.minutes(5))).toBe(600);
      expect(seconds(Duration.minutes(45))).toBe(7200);
      expect(seconds(Duration.hours(1))).toBe(7200);
      expect(seconds(Duration.hours(7))).toBe(50_400);
      expect(seconds(Duration.days(1))).toBe(86_400);
    });

    it('keeps a queued run until the next one, within Lambda bounds', () => {
      expect(maxEventAge(Duration.minutes(5)).toSeconds()).toBe(300);
      expect(maxEventAge(Duration.seconds(10)).toSeconds()).toBe(60);
      expect(maxEventAge(Duration.days(1)).toSeconds()).toBe(21_600);
      expect(maxEventAge(undefined).toSeconds()).toBe(21_600);
    });

    it('warns, and sets no stopped alarm, for a job that runs less than daily', () => {
      // Prepare
      const app = appWith({ flowpilot: { schedules: { reconcile: 'cron(0 3 ? * MON *)' } } });

      // Act
      const { stack } = buildApp({ app, env: {} });
      const template = Template.fromStack(stack);

      // Assess
      const stopped = template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { MetricName: 'Invocations' },
      });
      // poll-totals, poll-usage and poll-customers keep theirs.
      expect(Object.keys(stopped)).toHaveLength(3);
      Annotations.fromStack(stack).hasWarning(
        '/FlowPilot/Reconcile',
        Match.stringLikeRegexp('reconcile runs less often than daily'),
      );
    }, 300_000);
  });
});
