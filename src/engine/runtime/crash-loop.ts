import type { ExecutionError } from '../store/execution-types';

/**
 * Poison-pill protection. An execution whose processing kills the process (an expression that
 * exhausts memory, a task that freezes the event loop past the lease, ...) would otherwise be
 * recovered and re-run for ever, taking the server down again on every restart.
 *
 * The execution row counts the recoveries since its last progress (a task attempt that
 * finished, SUCCESS or FAILED). Each recovery re-queue increments it; the first progress write
 * after a claim resets it. The recovery that would make it reach `limit` ends the execution
 * FAILED with `kind: CRASH_LOOP` instead of re-queueing it.
 */
export const CRASH_LOOP_KIND = 'CRASH_LOOP';

/** What a suspect execution (one already recovered since its last progress) was doing last. */
export interface CrashSite {
  /** null: before the first task (rendering the workflow's variables) */
  taskId: string | null;
  /** the attempt in `retry.maxAttempts` terms (interrupted attempts do not count), when known */
  attempt: number | null;
}

/**
 * The decision for an execution found RUNNING under a dead (or silent) owner that has already
 * been recovered `recoveriesSoFar` times without progress: this recovery is number
 * `recoveriesSoFar + 1`, and reaching `limit` stops it.
 */
export function recoveryDecision(recoveriesSoFar: number, limit: number): 'requeue' | 'fail' {
  return recoveriesSoFar + 1 >= limit ? 'fail' : 'requeue';
}

function describeSite(site: CrashSite | null): string {
  if (!site) return 'while running this execution';
  if (site.taskId === null) return "while rendering the workflow's variables";
  return `while running task '${site.taskId}'${site.attempt !== null ? ` (attempt ${site.attempt})` : ''}`;
}

/** The execution's error when it is stopped for crash-looping (no data of the execution, only ids). */
export function crashLoopError(deaths: number, site: CrashSite | null): ExecutionError {
  return {
    message: `the server process died ${deaths} time${deaths === 1 ? '' : 's'} ${describeSite(site)} without progress; the execution was stopped to protect the server`,
    taskId: site?.taskId ?? null,
    kind: CRASH_LOOP_KIND,
  };
}

/** The warning logged on a re-queue after a crash, so the execution's own log tells the story. */
export function crashRecoveryNote(recovery: number, limit: number): string {
  return `the process running this execution died or stopped renewing its lease; re-queued after crash ${recovery} without progress (crash ${limit} stops it, engine.crashLoopLimit)`;
}

/**
 * Test-only crash injection: with `AUTOKESTRA_TEST_CRASH_ON_TASK=<taskId>` in the environment,
 * the process kills itself with SIGKILL when it starts a task with that id (any type, before
 * anything of it is written), the way an out-of-memory abort would. Unset (always, outside the
 * test suite), nothing happens. Used to prove crash-loop protection with real processes.
 */
export function testCrashHook(env: NodeJS.ProcessEnv): ((taskId: string) => void) | null {
  const target = env.AUTOKESTRA_TEST_CRASH_ON_TASK;
  if (!target) return null;
  return (taskId) => {
    if (taskId === target) process.kill(process.pid, 'SIGKILL');
  };
}
