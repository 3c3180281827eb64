import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

export interface WatchOptions {
  /** Quiet period after the last event before `onChange` runs; one save is often several events. */
  debounceMs?: number;
  /** The watch itself failed (directory removed, too many watchers); watching stops. */
  onError?: (err: Error) => void;
}

export const DEFAULT_DEBOUNCE_MS = 100;

/**
 * Calls `onChange` (debounced) when the config file may have changed. The directory is watched rather
 * than the file: editors that save by writing a temp file and renaming it over the original replace the
 * inode, and a watch on the file itself would go deaf after the first save. Kubernetes ConfigMap volumes
 * swap a `..data` symlink and never touch the file's own name, so those entries count too. The callback
 * may fire for saves that changed nothing; the reloader skips identical content.
 */
export function watchConfigFile(path: string, onChange: () => void, opts: WatchOptions = {}): ConfigWatcher {
  const full = resolve(path);
  const name = basename(full);
  const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const fire = () => {
    timer = undefined;
    if (!closed) onChange();
  };

  // persistent: false, so a watcher alone never keeps a process (or a test worker) alive.
  const watcher: FSWatcher = watch(dirname(full), { persistent: false }, (_event, filename) => {
    // Some platforms do not report the name; then any change in the directory may be ours.
    if (filename !== null && filename !== name && !filename.startsWith('..')) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
    timer.unref();
  });
  watcher.on('error', (err: Error) => {
    close();
    opts.onError?.(err);
  });

  function close(): void {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    watcher.close();
  }

  return { close };
}
