import { LOG_LEVELS, type FailTask, type LogTask, type OutputTask, type SleepTask } from '../dsl/types';
import { abortableDelay, TaskFailure, type TaskContext, type TaskType } from './task-type';

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export const logTaskType: TaskType<LogTask> = {
  name: 'log',
  properties: {
    message: { type: 'template', required: true },
    level: { type: 'enum', values: LOG_LEVELS, default: 'info' },
  },
  instant: true,
  async run(task, ctx) {
    ctx.log(task.level, text(ctx.render(task.message)));
    return null;
  },
};

export const sleepTaskType: TaskType<SleepTask> = {
  name: 'sleep',
  properties: { duration: { type: 'duration', required: true, as: 'durationMs' } },
  async run(task, ctx: TaskContext) {
    await abortableDelay(task.durationMs, ctx.signal);
    return null;
  },
};

export const outputTaskType: TaskType<OutputTask> = {
  name: 'output',
  properties: { values: { type: 'object', required: true } },
  instant: true,
  async run(task, ctx) {
    return ctx.render(task.values);
  },
};

export const failTaskType: TaskType<FailTask> = {
  name: 'fail',
  properties: { message: { type: 'template', default: 'failed by fail task' } },
  instant: true,
  async run(task, ctx) {
    throw new TaskFailure(text(ctx.render(task.message)), 'FAIL_TASK');
  },
};
