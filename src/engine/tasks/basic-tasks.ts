import type { FailTask, LogTask, OutputTask, SleepTask } from '../dsl/types';
import { abortableDelay, TaskFailure, type TaskContext, type TaskType } from './task-type';

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export const logTaskType: TaskType<LogTask> = {
  type: 'log',
  async run(task, ctx) {
    ctx.log(task.level, text(ctx.render(task.message)));
    return null;
  },
};

export const sleepTaskType: TaskType<SleepTask> = {
  type: 'sleep',
  async run(task, ctx: TaskContext) {
    await abortableDelay(task.durationMs, ctx.signal);
    return null;
  },
};

export const outputTaskType: TaskType<OutputTask> = {
  type: 'output',
  async run(task, ctx) {
    return ctx.render(task.values);
  },
};

export const failTaskType: TaskType<FailTask> = {
  type: 'fail',
  async run(task, ctx) {
    throw new TaskFailure(text(ctx.render(task.message)), 'FAIL_TASK');
  },
};
