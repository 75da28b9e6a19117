import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { randomKey, TEST_CONFIG, tempDir } from './server';

/** The built CLI (npm test builds before running vitest). */
export const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `autokestra <args>` to completion. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AUTOKESTRA_CONFIG: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`autokestra ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output(): string;
}

/** Starts `autokestra serve` as a real process and waits until it listens. */
export function spawnServe(env: Record<string, string | undefined>, args: string[] = []): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, 'serve'], { env: { ...process.env, AUTOKESTRA_CONFIG: '', AUTOKESTRA_HOST: '127.0.0.1', ...env } });
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) resolve({ child, url: match[1], output: () => out });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 20_000);
  });
}

/** `autokestra serve` on the test profile, a fresh SQLite file and a fresh static key. */
export async function spawnTestServe(env: Record<string, string | undefined> = {}, prefix = 'autokestra-serve-'): Promise<ServeProcess & { key: string }> {
  const key = randomKey();
  const proc = await spawnServe({
    AUTOKESTRA_CONFIG: TEST_CONFIG,
    AUTOKESTRA_API_KEYS: key,
    AUTOKESTRA_DATABASE_URL: join(tempDir(prefix), 'db.sqlite'),
    AUTOKESTRA_PORT: '0',
    ...env,
  });
  return { ...proc, key };
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM (a drained stop), SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!child || !running(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills every process in `children` that still runs (stopped ones too: SIGCONT first) and empties the set. */
export async function killAll(children: Set<ChildProcess>): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (running(child)) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }
      children.delete(child);
    }),
  );
}
