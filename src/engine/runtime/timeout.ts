import { formatDuration, linkedController, StopReason } from './abort';

/**
 * A task's `timeout:`: a signal that aborts with TIMEOUT when it runs out (and with the outer
 * reason when the outer signal aborts), and the deadline for evaluations, which a timer cannot
 * interrupt. A task without a timeout gets a plain linked signal and no deadline.
 */
export interface TaskTimeout {
  controller: AbortController;
  /** epoch ms when the timeout fires, or null */
  deadline: number | null;
  /** fires the timeout now (an evaluation ran into the deadline) */
  timeOut(): void;
  dispose(): void;
}

export function taskTimeout(task: { id: string; timeoutMs: number | null }, outer: AbortSignal, now: () => number): TaskTimeout {
  const { controller, dispose } = linkedController(outer);
  const timeOut = () => controller.abort(new StopReason('TIMEOUT', `task '${task.id}' timed out after ${formatDuration(task.timeoutMs!)}`));
  const timer = task.timeoutMs !== null ? setTimeout(timeOut, task.timeoutMs) : null;
  return {
    controller,
    deadline: task.timeoutMs !== null ? now() + task.timeoutMs : null,
    timeOut,
    dispose() {
      if (timer) clearTimeout(timer);
      dispose();
    },
  };
}
