import type { ForeachTask } from '../../dsl/types';
import { TaskFailure } from '../../tasks/task-type';
import { runConcurrently } from './concurrently';
import type { Container } from './host';

export const MAX_FOREACH_ITEMS = 10_000;

/**
 * `foreach`: evaluates `items` once (stored on the container's run, so a resumed execution
 * iterates the same list) and runs its tasks once per item, `concurrency` iterations at once.
 * Each iteration has its own task keys (`@i`) and its own outputs; afterwards `outputs.<child>`
 * is the list of that child's per-iteration outputs.
 */
export const foreachContainer: Container<ForeachTask> = {
  decides: true,
  async run(host, task, scope, opened) {
    const stored = host.storedOutputs(task, scope) as { items?: unknown[] } | undefined;
    let items = stored?.items;
    if (items === undefined) {
      items = host.evaluate(task, () => {
        const value = host.render(task.items, scope);
        if (!Array.isArray(value)) throw new TaskFailure(`foreach items must be a list, got ${value === null ? 'null' : typeof value}`, 'INVALID_ITEMS');
        if (value.length > MAX_FOREACH_ITEMS) throw new TaskFailure(`foreach items has ${value.length} entries; the limit is ${MAX_FOREACH_ITEMS}`, 'INVALID_ITEMS');
        return value;
      });
    }
    const list = items;
    const run = (opened.run = await host.openRun(task, scope, { items: list }));
    const iterationLocals: Record<string, unknown>[] = list.map(() => ({}));
    await runConcurrently(list.length, task.concurrency, scope, (i, child) =>
      host.runSequence(task.tasks, {
        ...child,
        keySuffix: `${scope.keySuffix ? `${scope.keySuffix}.` : '@'}${i}`,
        parentTaskRunId: run.id,
        iteration: i,
        item: list[i],
        index: i,
        locals: [...scope.locals, iterationLocals[i]],
      }),
    );
    for (const child of task.tasks) host.setOutput(child.id, iterationLocals.map((l) => l[child.id] ?? null), scope);
    host.setOutput(task.id, { iterations: list.length }, scope);
    await host.closeRun(run, 'SUCCESS', { items: list, iterations: list.length }, null);
  },
};
