import { linkedController, StopReason } from '../abort';
import type { RenderScope } from '../run-scope';

/**
 * Runs `count` branches with at most `limit` at once. The first failure stops the others
 * (their running tasks end CANCELLED) and is rethrown once every branch has settled.
 */
export async function runConcurrently(count: number, limit: number, scope: RenderScope, runBranch: (i: number, scope: RenderScope) => Promise<void>): Promise<void> {
  const { controller, dispose } = linkedController(scope.signal);
  const child: RenderScope = { ...scope, signal: controller.signal };
  let next = 0;
  let firstError: unknown = null;
  const worker = async () => {
    while (next < count && !controller.signal.aborted) {
      const i = next++;
      try {
        await runBranch(i, child);
      } catch (error) {
        if (firstError === null) {
          firstError = error;
          if (!controller.signal.aborted) controller.abort(new StopReason('SIBLING_FAILED', 'stopped because a sibling task failed'));
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  } finally {
    dispose();
  }
  if (firstError !== null) {
    // A sibling's own stop is a consequence; report the original cause.
    throw firstError instanceof StopReason && firstError.kind === 'SIBLING_FAILED' && scope.signal.aborted ? scope.signal.reason : firstError;
  }
  if (scope.signal.aborted) throw scope.signal.reason;
}
