import type { TerminalState } from '../../execution-state';
import type { TaskDefinition } from '../../dsl/types';
import type { ExecutionError, TaskRunRecord } from '../../store/execution-types';
import type { RenderScope } from '../run-scope';

/**
 * What a container needs from the execution it runs in (ExecutionRun implements it): its
 * stored decisions, expression evaluation, its own task run, and running nested tasks.
 */
export interface ContainerHost {
  /** the outputs stored on this container's run by an earlier owner (a resumed execution), if any */
  storedOutputs(task: TaskDefinition, scope: RenderScope): unknown;
  /** runs a container's own expression; an error fails the container like a failing task */
  evaluate<T>(task: TaskDefinition, fn: () => T): T;
  evaluateCondition(condition: string, scope: RenderScope): boolean;
  render(value: unknown, scope: RenderScope): unknown;
  /** the container's one task run (kept across resumes), created with `outputs` when new */
  openRun(task: TaskDefinition, scope: RenderScope, outputs: unknown): Promise<TaskRunRecord>;
  closeRun(run: TaskRunRecord, state: TerminalState, outputs: unknown, error: ExecutionError | null): Promise<void>;
  runSequence(tasks: readonly TaskDefinition[], scope: RenderScope): Promise<void>;
  runTask(task: TaskDefinition, scope: RenderScope): Promise<void>;
  setOutput(taskId: string, value: unknown, scope: RenderScope): void;
}

/** The container's run once it is open: the runner closes it as FAILED/CANCELLED when the body throws. */
export interface OpenedRun {
  run: TaskRunRecord | null;
}

export interface Container<T extends TaskDefinition = TaskDefinition> {
  /**
   * It evaluates a decision of its own (a branch, a list of items) before running children: a
   * crash then is the container's, so a suspect execution records it as the crash site.
   */
  readonly decides: boolean;
  run(host: ContainerHost, task: T, scope: RenderScope, opened: OpenedRun): Promise<void>;
}
