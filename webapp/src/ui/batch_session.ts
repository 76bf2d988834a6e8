// What the Batch view hands runBatchJob: the shared model session (so the job's images take
// turns with the classify and camera views'), and a gate that holds the loop while paused.

import { BatchAborted, type BatchClassifier } from '../batch/batch_job';
import type { BackendName } from '../engine/adapter';
import type { ModelSession } from './model_session';

/** The session as a classifier for one job's model; a switch to another model ends the job
 *  (its store rows are keyed by the model it started with). */
export function sessionClassifier(session: ModelSession, model: string): BatchClassifier {
  let backend: BackendName = 'wasm';
  return {
    get backend() { return backend; },
    async classify(image, k) {
      const result = await session.classify(image as ImageBitmap, k);    // runBatchJob passes bitmaps
      if (result.model !== model) {
        throw new BatchAborted(`The model was switched to ${result.model} while the batch job ran, so it stopped. ` +
                               `The photos done with ${model} are kept; start again to go on with ${result.model}.`);
      }
      backend = result.backend;
      return result.top;
    },
  };
}

/** Let clicks and fetch replies in between images: a classification on wasm may resolve without
 *  ever leaving the microtask queue. A message, unlike setTimeout, is not slowed down in a
 *  hidden window. */
export function yieldToPage(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(null);
  });
}

/** Pause: the loop waits at its next turn (before a pull or an image) until resumed. */
export class PauseGate {
  private held: Promise<void> | null = null;
  private release: () => void = () => {};
  /** True once the loop is actually waiting: nothing more is classified or posted. */
  holding = false;

  constructor(private onHeld: () => void) {}

  get paused(): boolean {
    return this.held !== null;
  }

  pause(): void {
    this.held ??= new Promise((resolve) => { this.release = resolve; });
  }

  resume(): void {
    this.release();
    this.held = null;
    this.holding = false;
  }

  async wait(): Promise<void> {
    if (!this.held) return;
    this.holding = true;
    this.onHeld();
    await this.held;
  }
}
