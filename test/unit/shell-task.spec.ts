import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ShellTask, TaskLogLevel } from '../../src/engine/dsl/types';
import { ShellTaskType } from '../../src/engine/tasks/shell-task';
import type { TaskContext, TaskRuntimeConfig } from '../../src/engine/tasks/task-type';

interface LogLine {
  level: TaskLogLevel;
  message: string;
}

function makeCtx(shell: Partial<TaskRuntimeConfig['shell']> = {}) {
  const controller = new AbortController();
  const logs: LogLine[] = [];
  const ctx: TaskContext = {
    executionId: 'exec-1',
    taskRunId: 'run-1',
    taskId: 'sh',
    attempt: 1,
    signal: controller.signal,
    render: (value) => value,
    log: (level, message) => logs.push({ level, message }),
    maxOutputBytes: 1024 * 1024,
    config: {
      http: { maxResponseBytes: 1024, allowCidrs: [], denyCidrs: [] },
      shell: { enabled: true, maxOutputBytes: 4096, ...shell },
    },
  };
  /** the lines the commands printed (not the engine's debug lines) */
  const printed = () => logs.filter((l) => l.level !== 'debug');
  return { ctx, logs, printed, controller };
}

function task(commands: string[][], env: Record<string, string> = {}): ShellTask {
  return { id: 'sh', type: 'shell', description: null, timeoutMs: null, retry: null, commands, env };
}

async function failure(promise: Promise<unknown>): Promise<{ kind?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { kind?: string; message: string };
  }
  throw new Error('expected the task to fail');
}

/** alive and not a zombie */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const shell = new ShellTaskType();

describe('ShellTaskType', () => {
  it('is refused when shell tasks are disabled', async () => {
    const { ctx } = makeCtx({ enabled: false });
    const err = await failure(shell.run(task([['echo', 'hi']]), ctx));
    expect(err.kind).toBe('SHELL_DISABLED');
    expect(err.message).toContain('engine.tasks.shell.enabled');
  });

  it('streams stdout as INFO lines and stderr as WARN lines', async () => {
    const { ctx, printed } = makeCtx();
    const out = await shell.run(
      task([['sh', '-c', 'echo one; echo two >&2; printf "three\\nfour"; printf "\\nfive\\r\\n"']]),
      ctx,
    );
    const lines = printed();
    expect(lines.filter((l) => l.level === 'info').map((l) => l.message)).toEqual(['one', 'three', 'four', 'five']);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['two']);
    expect(out).toEqual({ exitCode: 0, stdout: 'one\nthree\nfour\nfive' });
  });

  it('keeps partial lines until a newline or the end, across chunks', async () => {
    const { ctx, printed } = makeCtx();
    await shell.run(task([['sh', '-c', 'printf ab; sleep 0.05; printf "cd\\nef"; sleep 0.05; printf gh']]), ctx);
    expect(printed().map((l) => l.message)).toEqual(['abcd', 'efgh']);
  });

  it('runs commands in order; stdout output is the last command', async () => {
    const { ctx, printed } = makeCtx();
    const out = await shell.run(task([['echo', 'first'], ['echo', 'second'], ['printf', 'last\\n\\n']]), ctx);
    expect(printed().map((l) => l.message)).toEqual(['first', 'second', 'last', '']);
    expect(out).toEqual({ exitCode: 0, stdout: 'last' });
  });

  it('fails on a non-zero exit and does not run later commands', async () => {
    const { ctx, printed } = makeCtx();
    const err = await failure(shell.run(task([['echo', 'before'], ['false'], ['echo', 'after']]), ctx));
    expect(err.kind).toBe('COMMAND_FAILED');
    expect(err.message).toBe("command 2 ('false') exited with code 1");
    expect(printed().map((l) => l.message)).toEqual(['before']);
  });

  it('reports a command killed by a signal', async () => {
    const { ctx } = makeCtx();
    const err = await failure(shell.run(task([['sh', '-c', 'kill -USR1 $$']]), ctx));
    expect(err.kind).toBe('COMMAND_FAILED');
    expect(err.message).toBe("command 1 ('sh') was killed by signal SIGUSR1");
  });

  it('reports a command that does not exist', async () => {
    const { ctx } = makeCtx();
    const err = await failure(shell.run(task([['definitely-not-a-command-xyz', '--x']]), ctx));
    expect(err.kind).toBe('COMMAND_FAILED');
    expect(err.message).toMatch(/^command 1 \('definitely-not-a-command-xyz'\) not found/);
  });

  it('runs in a fresh temp dir (also HOME) that is removed afterwards, with a minimal env', async () => {
    const { ctx, printed } = makeCtx();
    const out = await shell.run(
      task(
        [
          ['pwd'],
          ['sh', '-c', 'echo "home=$HOME lang=$LANG greet=$GREETING path_set=${PATH:+yes} secret=${AWS_SECRET:-none}"'],
          ['sh', '-c', 'echo data > file.txt && cat file.txt'],
        ],
        { GREETING: 'hello world' },
      ),
      ctx,
    );
    const [pwd, envLine, data] = printed().map((l) => l.message);
    expect([tmpdir(), realpathSync(tmpdir())].some((t) => pwd!.startsWith(join(t, 'autokestra-shell-')))).toBe(true);
    expect(envLine).toBe(`home=${pwd} lang=C.UTF-8 greet=hello world path_set=yes secret=none`);
    expect(data).toBe('data');
    expect(out.stdout).toBe('data');
    expect(existsSync(pwd!)).toBe(false);
  });

  it('uses a different directory per run', async () => {
    const a = makeCtx();
    const b = makeCtx();
    const [ra, rb] = await Promise.all([shell.run(task([['pwd']]), a.ctx), shell.run(task([['pwd']]), b.ctx)]);
    expect(ra.stdout).not.toBe(rb.stdout);
  });

  it('does not interpret shell syntax in arguments', async () => {
    const { ctx, printed } = makeCtx();
    const out = await shell.run(task([['echo', '$HOME', ';', 'ls', '|', 'cat', '`id`', '$(id)', '*']]), ctx);
    expect(out.stdout).toBe('$HOME ; ls | cat `id` $(id) *');
    expect(printed()).toHaveLength(1);
  });

  it('renders argv elements and env values through ctx.render', async () => {
    const { ctx } = makeCtx();
    ctx.render = (value) => {
      if (value === '{{ n }}') return 42;
      if (value === '{{ obj }}') return { a: 1 };
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === '{{ who }}' ? 'world' : v]));
      }
      return value;
    };
    const out = await shell.run(
      task([['sh', '-c', 'echo "$1 $2 $WHO"', 'sh', '{{ n }}', '{{ obj }}']], { WHO: '{{ who }}' }),
      ctx,
    );
    expect(out.stdout).toBe('42 {"a":1} world');
  });

  it('caps the captured output, says so once, and still drains the rest', async () => {
    const { ctx, printed } = makeCtx({ maxOutputBytes: 100 });
    // 200 lines of 10 bytes, far over the cap: the command must still finish normally
    const out = await shell.run(task([['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo "line-$((i+1000))"; i=$((i+1)); done']]), ctx);
    const lines = printed();
    expect(lines.at(-1)).toEqual({ level: 'warn', message: 'output truncated after 100 bytes' });
    expect(lines.filter((l) => l.message.startsWith('output truncated'))).toHaveLength(1);
    const captured = lines.slice(0, -1).map((l) => l.message);
    expect(captured.slice(0, 9)).toEqual(Array.from({ length: 9 }, (_, i) => `line-${1000 + i}`));
    expect(captured.join('\n').length).toBeLessThanOrEqual(100);
    // stdout output is the tail of the command's stdout, independent of the log cap
    expect(out.stdout.endsWith('line-2999')).toBe(true);
  });

  it('caps the stdout output at the last 64 KiB', async () => {
    const { ctx } = makeCtx({ maxOutputBytes: 1024 });
    const out = await shell.run(task([['sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" a; echo; echo END']]), ctx);
    expect(Buffer.byteLength(out.stdout)).toBeLessThanOrEqual(64 * 1024);
    expect(out.stdout.endsWith('a\nEND')).toBe(true);
  });

  it('on abort kills the whole process group, grandchildren included, and rejects with the reason', async () => {
    const { ctx, controller, printed } = makeCtx();
    const promise = shell.run(task([['sh', '-c', 'sleep 30 & echo $!; echo $$; sleep 30']]), ctx);
    await waitFor(() => printed().length >= 2);
    const pids = printed().map((l) => Number(l.message));
    expect(pids.every((pid) => Number.isInteger(pid) && pid > 0)).toBe(true);
    expect(pids.every(alive)).toBe(true);
    const reason = new Error('cancelled');
    const abortedAt = Date.now();
    controller.abort(reason);
    await expect(promise).rejects.toBe(reason);
    expect(Date.now() - abortedAt).toBeLessThan(2_500);
    await waitFor(() => pids.every((pid) => !alive(pid)), 1_000);
  });

  it('on abort, a process ignoring SIGTERM is SIGKILLed after the grace period', async () => {
    const { ctx, controller, printed } = makeCtx();
    const promise = shell.run(task([['sh', '-c', 'trap "" TERM; echo $$; while :; do sleep 0.1; done']]), ctx);
    await waitFor(() => printed().length >= 1);
    const pid = Number(printed()[0]!.message);
    const abortedAt = Date.now();
    controller.abort(new Error('timeout'));
    await expect(promise).rejects.toThrow('timeout');
    const took = Date.now() - abortedAt;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(4_000);
    expect(alive(pid)).toBe(false);
  });

  it('does not start when already aborted, and does not run later commands after an abort', async () => {
    const { ctx, controller, printed } = makeCtx();
    const reason = new Error('shutdown');
    controller.abort(reason);
    await expect(shell.run(task([['echo', 'x']]), ctx)).rejects.toBe(reason);
    expect(printed()).toEqual([]);

    const second = makeCtx();
    const promise = shell.run(task([['sleep', '30'], ['echo', 'after']]), second.ctx);
    setTimeout(() => second.controller.abort(reason), 100);
    await expect(promise).rejects.toBe(reason);
    expect(second.printed()).toEqual([]);
  });

  it('terminates background processes a successful command leaves behind', async () => {
    const { ctx, printed } = makeCtx();
    const started = Date.now();
    const out = await shell.run(task([['sh', '-c', 'sleep 30 > /dev/null 2>&1 & echo $!']]), ctx);
    expect(Date.now() - started).toBeLessThan(2_000);
    const pid = Number(out.stdout);
    expect(printed()).toHaveLength(1);
    await waitFor(() => !alive(pid), 1_000);
  });

  it('does not wait for a background process holding stdout open', async () => {
    const { ctx } = makeCtx();
    const started = Date.now();
    const out = await shell.run(task([['sh', '-c', 'sleep 30 & echo $!']]), ctx);
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitFor(() => !alive(Number(out.stdout)), 1_000);
  });
});
