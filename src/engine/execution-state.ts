/**
 * The states of an execution and the moves between them, written once: the store's SQL, the
 * runner, the CLI, the DTOs and the tests all read them from here.
 *
 *   QUEUED ──claim──▶ RUNNING ──finish──▶ SUCCESS | FAILED | CANCELLED
 *     │                 │  ▲
 *     │                 │  └── release (drain) / crash recovery ── back to QUEUED
 *     │                 └──cancel──▶ CANCELLING ──finish / sweep──▶ SUCCESS | FAILED | CANCELLED
 *     └──cancel──▶ CANCELLED
 */

export const TERMINAL_STATE_LIST = ['SUCCESS', 'FAILED', 'CANCELLED'] as const;
export type TerminalState = (typeof TERMINAL_STATE_LIST)[number];

/** States in which an owner (a replica's worker) holds the execution's lease. */
export const ACTIVE_STATE_LIST = ['RUNNING', 'CANCELLING'] as const;

export const EXECUTION_STATES = ['QUEUED', ...ACTIVE_STATE_LIST, ...TERMINAL_STATE_LIST] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<ExecutionState> = new Set<ExecutionState>(TERMINAL_STATE_LIST);

/** A task run is running or ended; it is never queued or cancelling itself. */
export const TASK_RUN_STATES = ['RUNNING', ...TERMINAL_STATE_LIST] as const;
export type TaskRunState = (typeof TASK_RUN_STATES)[number];

/** Every move the engine makes; terminal states are final. */
export const EXECUTION_TRANSITIONS: Readonly<Record<ExecutionState, readonly ExecutionState[]>> = {
  QUEUED: ['RUNNING', 'CANCELLED'],
  RUNNING: ['SUCCESS', 'FAILED', 'CANCELLED', 'CANCELLING', 'QUEUED'],
  CANCELLING: ['SUCCESS', 'FAILED', 'CANCELLED'],
  SUCCESS: [],
  FAILED: [],
  CANCELLED: [],
};

export function isTerminal(state: string): state is TerminalState {
  return TERMINAL_STATES.has(state as ExecutionState);
}

export function canTransition(from: ExecutionState, to: ExecutionState): boolean {
  return EXECUTION_TRANSITIONS[from].includes(to);
}

/** `('SUCCESS', 'FAILED', 'CANCELLED')`: a state list as an SQL `in` operand (constants, never input). */
export function sqlStateList(states: readonly ExecutionState[]): string {
  return `(${states.map((s) => `'${s}'`).join(', ')})`;
}
