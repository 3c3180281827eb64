import { Readable } from 'node:stream';
import { type BufferedIterator, isBuffered } from '../upstream/types.js';

/**
 * The response body of an SSE stream: the frames of an async iterator of text, as `Readable.from`
 * would give them, except when they are written.
 *
 * - The first frame is written on its own, and the iterator is not asked for more until that write has
 *   reached the socket. Node's HTTP response corks the socket on a write and uncorks on the next tick,
 *   and a stream whose events are already buffered produces all of them in microtasks, before any tick:
 *   without the pause the first byte would wait for every buffered event's parsing and framing.
 * - After it, every frame produced before the loop turns goes out in one write: one chunked-encoding
 *   frame and one string-to-bytes copy per upstream read instead of one per event. A source that is a
 *   BufferedIterator gives the frames it already holds without a promise each.
 *
 * Errors of the iterator destroy the stream (as `Readable.from` does); destroying it early returns the
 * iterator, so its `finally` runs.
 */
export class FrameReadable extends Readable {
  /** Frames produced since the last push. */
  private text = '';
  private pulling = false;
  /** The reader wants more (set by _read, cleared when a push fills the buffer). */
  private wanted = false;
  private flushQueued = false;
  private firstSent = false;
  private ended = false;

  constructor(private readonly frames: AsyncIterator<string> | BufferedIterator<string>) {
    super();
  }

  override _read(): void {
    this.wanted = true;
    if (!this.pulling && !this.ended) void this.pull();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const frames = this.frames;
    if (this.ended || typeof frames.return !== 'function') {
      cb(err);
      return;
    }
    this.ended = true;
    frames.return().then(
      () => process.nextTick(cb, err),
      (e: unknown) => process.nextTick(cb, (e as Error | undefined) ?? err),
    );
  }

  private async pull(): Promise<void> {
    this.pulling = true;
    const frames = this.frames;
    try {
      while (this.wanted && !this.ended) {
        const r = await frames.next();
        if (this.destroyed) return;
        if (this.addFrame(r)) return;
        if (!this.firstSent) {
          if (this.text === '') continue;
          this.firstSent = true;
          this.flush();
          // A tick queued after the write's uncork tick runs after it: the frame is on the socket.
          await new Promise<void>((resolve) => process.nextTick(resolve));
          if (this.destroyed) return;
          continue;
        }
        // The rest of what the source already holds, without a promise each.
        if (isBuffered(frames)) {
          for (let b = frames.nextBuffered(); b !== undefined; b = frames.nextBuffered()) {
            if (this.addFrame(b)) return;
            if (this.text.length >= MAX_PENDING_CHARS) {
              this.flush();
              if (!this.wanted) break;
            }
          }
        }
        if (this.text.length >= MAX_PENDING_CHARS) this.flush();
        else if (this.text !== '' && !this.flushQueued) {
          this.flushQueued = true;
          process.nextTick(flushTick, this);
        }
      }
    } catch (err) {
      this.ended = true;
      this.destroy(err as Error);
    } finally {
      this.pulling = false;
    }
  }

  /** Adds a frame to the pending text; at the end, writes it and ends the stream (returns true). */
  private addFrame(r: IteratorResult<string>): boolean {
    if (r.done === true) {
      this.ended = true;
      this.flush();
      this.push(null);
      return true;
    }
    this.text += r.value;
    return false;
  }

  /** @internal */
  flush(): void {
    this.flushQueued = false;
    if (this.text === '' || this.destroyed) return;
    const text = this.text;
    this.text = '';
    if (!this.push(text)) this.wanted = false;
  }
}

/** Frames held back for one write at most: past this they go out at once. */
const MAX_PENDING_CHARS = 64 * 1024;

function flushTick(r: FrameReadable): void {
  r.flush();
}
