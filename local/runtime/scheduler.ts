import type { FunctionName } from './function-names.ts';
import type { Schedule } from './schedule.ts';

export interface ScheduledJob {
  name: FunctionName;
  /** The configured expression, as EventBridge gets it in AWS. */
  expression: string;
  schedule: Schedule;
}

/**
 * Fires each job at its schedule's times. A tick that finds the previous run of the same
 * function still going is skipped (as reserved concurrency 1 would throttle it in AWS).
 */
export class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** When each job fires next, for the banner and the status page. */
  private readonly next = new Map<ScheduledJob['name'], Date>();
  private stopped = false;

  constructor(
    private readonly jobs: ScheduledJob[],
    private readonly fire: (name: FunctionName) => Promise<void>,
    private readonly isRunning: (name: FunctionName) => boolean,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    for (const job of this.jobs) this.arm(job);
  }

  private arm(job: ScheduledJob): void {
    if (this.stopped) return;
    const at = job.schedule.next(this.now());
    this.next.set(job.name, at);
    // setTimeout caps at ~24.8 days; re-arm in steps for long schedules.
    const delay = Math.min(at.getTime() - this.now().getTime(), 2 ** 31 - 1);
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (this.now() >= at && !this.isRunning(job.name)) {
          void this.fire(job.name);
        }
        this.arm(job);
      },
      Math.max(0, delay),
    );
    this.timers.add(timer);
  }

  /** Each job with its next run (the one computed from now when not started yet). */
  nextRuns(): { name: FunctionName; expression: string; at: Date }[] {
    return this.jobs.map((j) => ({
      name: j.name,
      expression: j.expression,
      at: this.next.get(j.name) ?? j.schedule.next(this.now()),
    }));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
