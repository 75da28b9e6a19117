/**
 * Hooks the multi-replica tests use to make one process look like a replica on another machine:
 * a clock that runs fast or slow, and another host name (so the same-host dead-process check
 * does not apply and only lease expiry can recover its executions). Read from the environment
 * the engine is given; unset in production, where they change nothing.
 */
export function testClock(env: NodeJS.ProcessEnv): (() => number) | undefined {
  const offset = Number(env.AUTOKESTRA_TEST_CLOCK_OFFSET_MS ?? 0);
  if (!Number.isFinite(offset) || offset === 0) return undefined;
  return () => Date.now() + offset;
}

export function testHostname(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.AUTOKESTRA_TEST_HOSTNAME;
  return host && /^[A-Za-z0-9.-]{1,100}$/.test(host) ? host : undefined;
}
