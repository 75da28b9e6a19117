import type { TaskType } from './task-type';
import { failTaskType, logTaskType, outputTaskType, sleepTaskType } from './basic-tasks';
import { HttpTaskType } from './http-task';
import { ShellTaskType } from './shell-task';

/** Leaf task types by name. Containers (parallel, if, foreach) and subflow live in the runner. */
export function builtInTaskTypes(): Map<string, TaskType> {
  const types: TaskType[] = [logTaskType, sleepTaskType, outputTaskType, failTaskType, new HttpTaskType() as TaskType, new ShellTaskType() as TaskType];
  return new Map(types.map((t) => [t.type, t]));
}
