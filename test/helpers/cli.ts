import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The real `switchyard` command as `npm start` runs it: the compiled dist/ (built by `pretest`). */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

const running: ChildProcess[] = [];

/** For afterEach: kill whatever a test left running. */
export function killCliProcesses(): void {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves with the URL from the "switchyard listening" log line; rejects if the process exits first. */
  listening: Promise<URL>;
  /** The JSON log lines written so far. */
  logs(): Array<Record<string, unknown>>;
  /**
   * The first log line with this `msg` written after `after` lines (default: any), as soon as it is
   * written; rejects if the process exits first or after `timeoutMs`. A child process starting on a
   * loaded two-core machine can take many seconds, so the default deadline is generous.
   */
  logLine(msg: string, opts?: { after?: number; timeoutMs?: number }): Promise<Record<string, unknown>>;
  out(): string;
  err(): string;
}

/**
 * Starts the CLI with only what a fresh machine has in its environment (no provider keys leak in from the
 * developer's shell) plus `env`, listening on a free port.
 */
export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const listening = new Promise<URL>((resolve, reject) => {
    const check = () => {
      const line = logs().find((l) => l.msg === 'switchyard listening');
      if (line) resolve(new URL(line.url as string));
    };
    child.stdout!.on('data', check);
    exited.then(() => reject(new Error(`exited early: ${stderr}`)));
  });
  // Tests that expect an early exit never await `listening`.
  listening.catch(() => {});
  const logLine = (msg: string, opts: { after?: number; timeoutMs?: number } = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const find = () =>
        logs()
          .slice(opts.after ?? 0)
          .find((l) => l.msg === msg);
      const done = (fn: () => void) => {
        child.stdout!.off('data', check);
        clearTimeout(timer);
        fn();
      };
      const check = () => {
        const line = find();
        if (line) done(() => resolve(line));
      };
      const timeoutMs = opts.timeoutMs ?? 30_000;
      const timer = setTimeout(
        () => done(() => reject(new Error(`no '${msg}' log line within ${timeoutMs}ms; stdout: ${stdout}`))),
        timeoutMs,
      );
      child.stdout!.on('data', check);
      exited.then(() => {
        if (!find()) done(() => reject(new Error(`exited before '${msg}'; stderr: ${stderr}`)));
      });
      check();
    });
  return { child, exited, listening, logs, logLine, out: () => stdout, err: () => stderr };
}
