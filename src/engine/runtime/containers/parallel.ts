import type { ParallelTask } from '../../dsl/types';
import { runConcurrently } from './concurrently';
import type { Container } from './host';

/** `parallel`: its tasks run concurrently (at most `concurrency` at once); the first failure stops the rest. */
export const parallelContainer: Container<ParallelTask> = {
  decides: false,
  async run(host, task, scope, opened) {
    const run = (opened.run = await host.openRun(task, scope, null));
    await runConcurrently(task.tasks.length, task.concurrency ?? task.tasks.length, scope, (i, child) =>
      host.runTask(task.tasks[i], { ...child, parentTaskRunId: run.id }),
    );
    await host.closeRun(run, 'SUCCESS', null, null);
  },
};
