/**
 * The `shell` task: runs each command as an argv (no shell is involved) in a fresh temporary
 * directory, one after the other, in its own process group. stdout lines are logged at INFO and
 * stderr lines at WARN, up to `engine.tasks.shell.maxOutputBytes` in total per attempt. Abort
 * (cancel, timeout, shutdown) terminates the whole process group: SIGTERM, then SIGKILL after
 * KILL_GRACE_MS. Background processes a command leaves behind are terminated when it exits.
 *
 * Outputs: `{exitCode: 0, stdout}` where stdout is the last 64 KiB of the last command's stdout,
 * trailing newlines removed (as shell command substitution does).
 *
 * POSIX only (process groups, negative-pid kill).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ShellTask } from '../dsl/types';
import { TaskFailure, type PropertySchema, type TaskContext, type TaskRuntimeConfig, type TaskType } from './task-type';

export const STDOUT_OUTPUT_BYTES = 64 * 1024;
export const KILL_GRACE_MS = 2_000;
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface ShellTaskOutputs {
  exitCode: 0;
  stdout: string;
}

function argText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Signals the whole process group; false when no process of the group is left. */
function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * True while some process of the group is alive. On Linux, zombies (exited children waiting to be
 * reaped, e.g. orphans in a container whose init does not reap) do not count.
 */
function groupAlive(pgid: number): boolean {
  if (!killGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.limit * 2) this.compact();
  }

  text(): string {
    this.compact();
    let buf = this.chunks[0] ?? Buffer.alloc(0);
    // do not start in the middle of a UTF-8 sequence
    let start = 0;
    while (start < buf.length && start < 4 && (buf[start]! & 0xc0) === 0x80) start++;
    buf = buf.subarray(start);
    return buf.toString('utf8').replace(/(\r?\n)+$/, '');
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const kept = all.length > this.limit ? all.subarray(all.length - this.limit) : all;
    this.chunks = [kept];
    this.size = kept.length;
  }
}

/** Splits a stream into lines, for the logs, under a byte budget shared by all streams. */
class LineSplitter {
  private decoder = new StringDecoder('utf8');
  private pending = '';
  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer): void {
    const text = this.pending + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  flush(): void {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (rest.length > 0) this.emit(rest.endsWith('\r') ? rest.slice(0, -1) : rest);
  }
}

class OutputBudget {
  private used = 0;
  private truncated = false;
  private readonly splitters = new Set<LineSplitter>();
  constructor(
    private readonly limit: number,
    private readonly ctx: TaskContext,
  ) {}

  stream(level: 'info' | 'warn'): { write(chunk: Buffer): void; end(): void } {
    const splitter = new LineSplitter((line) => this.ctx.log(level, line));
    this.splitters.add(splitter);
    return {
      write: (chunk) => {
        if (this.truncated) return; // drained, discarded
        const room = this.limit - this.used;
        if (chunk.length <= room) {
          this.used += chunk.length;
          splitter.write(chunk);
          return;
        }
        if (room > 0) splitter.write(chunk.subarray(0, room));
        this.used = this.limit;
        this.truncated = true;
        for (const s of this.splitters) s.flush();
        this.ctx.log('warn', `output truncated after ${this.limit} bytes`);
      },
      end: () => {
        this.splitters.delete(splitter);
        if (!this.truncated) splitter.flush();
      },
    };
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class ShellTaskType implements TaskType<ShellTask> {
  readonly name = 'shell' as const;
  readonly properties: PropertySchema = {
    commands: { type: 'commands', required: true },
    env: { type: 'stringMap', keyPattern: ENV_NAME, keyHint: 'environment variable names are letters, digits and _, not starting with a digit', default: {} },
  };

  disabledBy(config: TaskRuntimeConfig): string | null {
    return config.shell.enabled ? null : 'engine.tasks.shell.enabled';
  }

  async run(task: ShellTask, ctx: TaskContext): Promise<ShellTaskOutputs> {
    if (!ctx.config.shell.enabled) {
      throw new TaskFailure(
        'shell tasks are disabled; set engine.tasks.shell.enabled: true to allow them',
        'SHELL_DISABLED',
      );
    }
    if (ctx.signal.aborted) throw ctx.signal.reason;

    const commands = task.commands.map((argv) => argv.map((arg) => argText(ctx.render(arg))));
    const renderedEnv = (ctx.render(task.env ?? {}) ?? {}) as Record<string, unknown>;
    const budget = new OutputBudget(ctx.config.shell.maxOutputBytes, ctx);

    const dir = await mkdtemp(join(tmpdir(), 'autokestra-shell-'));
    try {
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? DEFAULT_PATH,
        HOME: dir,
        TMPDIR: dir,
        LANG: 'C.UTF-8',
      };
      for (const [name, value] of Object.entries(renderedEnv)) env[name] = argText(value);

      let stdout = '';
      for (let i = 0; i < commands.length; i++) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        stdout = await this.runCommand(i + 1, commands[i]!, dir, env, budget, ctx);
      }
      return { exitCode: 0, stdout };
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async runCommand(
    index: number,
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    budget: OutputBudget,
    ctx: TaskContext,
  ): Promise<string> {
    const name = argv[0] ?? '';
    const label = `command ${index} ('${name}')`;
    if (name === '') throw new TaskFailure(`command ${index} is empty`, 'COMMAND_FAILED');
    ctx.log('debug', `${label}: ${argv.join(' ')}`);

    let child: ChildProcess;
    try {
      child = spawn(name, argv.slice(1), {
        cwd,
        env,
        detached: true, // own process group, so the whole tree can be signalled
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw new TaskFailure(`${label} could not be started: ${(err as Error).message}`, 'COMMAND_FAILED');
    }
    const pgid = child.pid;

    const tail = new TailBuffer(STDOUT_OUTPUT_BYTES);
    const out = budget.stream('info');
    const errOut = budget.stream('warn');
    child.stdout!.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      out.write(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => errOut.write(chunk));

    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>(
      (resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        // a spawn failure (ENOENT, EACCES…) is reported by 'error' and no process exists
        child.on('error', (error: NodeJS.ErrnoException) => {
          if (child.pid === undefined) resolve({ code: null, signal: null, error });
        });
      },
    );

    let abortedAt: number | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      abortedAt = Date.now();
      if (pgid === undefined) return;
      killGroup(pgid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pgid, 'SIGKILL'), KILL_GRACE_MS);
    };
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });

    try {
      const result = await exited;
      // processes the command left behind in its group must not outlive it
      if (pgid !== undefined) {
        const grace = abortedAt === null ? KILL_GRACE_MS : Math.max(0, KILL_GRACE_MS - (Date.now() - abortedAt));
        await terminateGroup(pgid, grace);
      }
      // the pipes close once every writer is gone; don't hang on one that escaped the group
      let waitTimer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((r) => (waitTimer = setTimeout(r, 1_000)))]);
      clearTimeout(waitTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      out.end();
      errOut.end();

      if (abortedAt !== null) throw ctx.signal.reason;
      if (result.error) {
        const code = result.error.code;
        const why =
          code === 'ENOENT'
            ? `not found (no such executable on PATH or at that path)`
            : code === 'EACCES'
              ? 'is not executable (EACCES)'
              : `could not be started: ${result.error.message}`;
        throw new TaskFailure(`${label} ${why}`, 'COMMAND_FAILED');
      }
      if (result.code === 0) return tail.text();
      const how = result.signal ? `was killed by signal ${result.signal}` : `exited with code ${result.code}`;
      throw new TaskFailure(`${label} ${how}`, 'COMMAND_FAILED');
    } finally {
      clearTimeout(killTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }
}

/** SIGTERM whatever is left of the group, then SIGKILL after `graceMs`; resolves once it is gone. */
async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  killGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(25);
  if (!groupAlive(pgid)) return;
  killGroup(pgid, 'SIGKILL');
  const killDeadline = Date.now() + 1_000;
  while (groupAlive(pgid) && Date.now() < killDeadline) await sleep(25);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
