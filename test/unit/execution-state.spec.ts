import { describe, expect, it } from 'vitest';
import { canTransition, EXECUTION_STATES, EXECUTION_TRANSITIONS, isTerminal, sqlStateList, TERMINAL_STATE_LIST, TERMINAL_STATES } from '../../src/engine/execution-state';

describe('execution states', () => {
  it('terminal states are final and every other state can move on', () => {
    for (const state of EXECUTION_STATES) {
      expect(isTerminal(state), state).toBe(TERMINAL_STATES.has(state));
      expect(EXECUTION_TRANSITIONS[state].length === 0, state).toBe(isTerminal(state));
    }
    expect([...TERMINAL_STATES].sort()).toEqual([...TERMINAL_STATE_LIST].sort());
  });

  it('allows exactly the moves the engine makes', () => {
    expect(canTransition('QUEUED', 'RUNNING')).toBe(true);
    expect(canTransition('QUEUED', 'CANCELLED')).toBe(true);
    expect(canTransition('RUNNING', 'QUEUED')).toBe(true); // drained or recovered
    expect(canTransition('RUNNING', 'CANCELLING')).toBe(true);
    expect(canTransition('CANCELLING', 'CANCELLED')).toBe(true);
    expect(canTransition('QUEUED', 'SUCCESS')).toBe(false);
    expect(canTransition('CANCELLING', 'RUNNING')).toBe(false);
    expect(canTransition('SUCCESS', 'QUEUED')).toBe(false);
    // every target is a known state
    for (const targets of Object.values(EXECUTION_TRANSITIONS)) for (const to of targets) expect(EXECUTION_STATES).toContain(to);
  });

  it('renders a state list as an SQL in-operand', () => {
    expect(sqlStateList(TERMINAL_STATE_LIST)).toBe("('SUCCESS', 'FAILED', 'CANCELLED')");
  });
});
