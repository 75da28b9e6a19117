import { Cron } from 'croner';
import type { EngineLogger } from '../logger';
import type { EngineEvents } from '../observer';
import type { StateStore } from '../store/state-store';
import type { ScheduleTriggerRow } from '../store/execution-types';
import { newId } from './ids';
import { coerceInputs } from './inputs';

const MAX_FIRES_PER_TICK = 100;

/**
 * Fires schedule triggers. Every process checks every second; the store's unique fire key
 * (workflow, trigger, tick) lets exactly one of them create the execution. Ticks missed while
 * no process was running are not backfilled: the scheduler starts from "now".
 */
export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private lastCheck = 0;
  private readonly crons = new Map<string, Cron>();
  private ticking = false;

  constructor(
    private readonly store: StateStore,
    private readonly logger: EngineLogger,
    private readonly onFired: () => void,
    private readonly events?: EngineEvents,
  ) {}

  start(): void {
    if (this.timer) return;
    this.lastCheck = Date.now();
    const schedule = () => {
      // aligned just after each second boundary, so 6-field (seconds) crons fire on time
      this.timer = setTimeout(() => void this.tick().finally(schedule), 1000 - (Date.now() % 1000) + 5);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private cron(row: ScheduleTriggerRow): Cron {
    const key = `${row.workflowId}\u0000${row.triggerId}\u0000${row.cron}\u0000${row.timezone}`;
    let cron = this.crons.get(key);
    if (!cron) {
      if (this.crons.size > 10_000) this.crons.clear();
      cron = new Cron(row.cron, { timezone: row.timezone, paused: true });
      this.crons.set(key, cron);
    }
    return cron;
  }

  async tick(now = Date.now()): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const from = this.lastCheck;
    this.lastCheck = now;
    try {
      for (const row of await this.store.executions.listScheduleTriggers()) {
        let fires = 0;
        let next = this.cron(row).nextRun(new Date(from));
        while (next && next.getTime() <= now && fires < MAX_FIRES_PER_TICK) {
          await this.fire(row, next.getTime());
          fires += 1;
          next = this.cron(row).nextRun(next);
        }
      }
    } catch (error) {
      this.events?.storeError('schedule_tick');
      this.logger.error({ err: error }, 'schedule tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private async fire(row: ScheduleTriggerRow, fireAt: number): Promise<void> {
    const workflow = await this.store.getWorkflow(row.workflowId);
    if (!workflow || !workflow.enabled) return;
    const coerced = coerceInputs(workflow.definition.inputs, row.inputs);
    if (!coerced.ok) {
      this.logger.error({ workflowId: row.workflowId, triggerId: row.triggerId, problems: coerced.problems }, 'schedule inputs do not fit the workflow; tick skipped');
      return;
    }
    const execution = await this.store.executions.fireSchedule(row.workflowId, row.triggerId, fireAt, {
      id: newId(),
      workflowId: workflow.id,
      namespace: workflow.namespace,
      revision: workflow.revision,
      inputs: coerced.inputs,
      labels: workflow.definition.labels,
      trigger: { type: 'schedule', id: row.triggerId, scheduledAt: new Date(fireAt).toISOString() },
      createdAt: Date.now(),
      concurrencyLimit: workflow.definition.concurrency?.limit ?? null,
      timeoutMs: workflow.definition.timeoutMs,
      parentExecutionId: null,
      depth: 0,
      idempotencyKey: null,
      idempotencyHash: null,
    });
    if (execution) {
      this.logger.info({ workflowId: row.workflowId, triggerId: row.triggerId, executionId: execution.id }, 'schedule fired');
      this.onFired();
    }
  }
}
