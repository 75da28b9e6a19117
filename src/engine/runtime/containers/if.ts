import type { IfTask } from '../../dsl/types';
import type { Container } from './host';

/**
 * `if`: evaluates `condition` once and runs `then` or `else`. The branch is stored on the
 * container's run, so a resumed execution continues in the branch it chose, never re-deciding.
 */
export const ifContainer: Container<IfTask> = {
  decides: true,
  async run(host, task, scope, opened) {
    const stored = host.storedOutputs(task, scope) as { branch?: string } | undefined;
    let branch = stored?.branch;
    if (branch === undefined) branch = host.evaluate(task, () => (host.evaluateCondition(task.condition, scope) ? 'then' : 'else'));
    const run = (opened.run = await host.openRun(task, scope, { branch }));
    await host.runSequence(branch === 'then' ? task.then : task.else, { ...scope, parentTaskRunId: run.id });
    host.setOutput(task.id, { branch }, scope);
    await host.closeRun(run, 'SUCCESS', { branch }, null);
  },
};
