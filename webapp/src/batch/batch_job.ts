// Runs a batch job with a classifier the caller opened: pull a batch of decoded pixels from
// the shell, classify each image, post the batch's results, until the shell says it is done.
// The headless CLI page uses it (./page.ts); so can any view that has a Classifier.

import { postJSON } from '../api';
import type { Classifier } from '../engine/classifier';
import type { Prediction } from '../engine/topk';
import { fetchBatch } from './pixels';

export type ImageResult =
  | { ok: true; top: Prediction[]; backend: string; ms: number }
  | { ok: false; error: string; backend: string; ms: number };

export interface BatchDone {
  seq: number;
  results: ImageResult[];
  /** Time the page spent turning pixels into bitmaps, and classifying (ms, the whole batch). */
  stages_ms: { unpack: number; classify: number };
}

export interface BatchJobHooks {
  /** After each batch's results are posted (e.g. to update a view). */
  onBatch?: (done: BatchDone) => void;
  /** Checked between batches: true ends the loop (the shell sees no more results). */
  stopped?: () => boolean;
  /** Awaited before each pull and each image: a view holds it while the user has paused. */
  waitTurn?: () => Promise<void>;
}

/** What the loop needs of a classifier (a view may pass a wrapper around a shared one). */
export type BatchClassifier = Pick<Classifier, 'backend' | 'classify'>;

/** Thrown by a classifier when the whole job must end (not one image's error): the batch in
 *  flight is not posted and runBatchJob rejects with it. */
export class BatchAborted extends Error {}

export async function runBatchJob(classifier: BatchClassifier, jobId: string, top: number,
                                  hooks: BatchJobHooks = {}): Promise<void> {
  const url = `api/jobs/${encodeURIComponent(jobId)}/batch`;
  while (!hooks.stopped?.()) {
    await hooks.waitTurn?.();
    const batch = await fetchBatch(url);
    if (batch === 'finished') return;
    if (batch === 'again') continue;
    const done: BatchDone = { seq: batch.seq, results: [], stages_ms: { unpack: 0, classify: 0 } };
    for (const image of batch.images) {
      await hooks.waitTurn?.();
      done.results.push(await classifyOne(classifier, image, top, done.stages_ms));
    }
    await postJSON(url, done);
    hooks.onBatch?.(done);
  }
}

async function classifyOne(classifier: BatchClassifier, image: ImageData, top: number,
                           stages: BatchDone['stages_ms']): Promise<ImageResult> {
  const t0 = performance.now();
  try {
    const bitmap = await createImageBitmap(image);
    const t1 = performance.now();
    try {
      const predictions = await classifier.classify(bitmap, top);
      return { ok: true, top: predictions, backend: classifier.backend, ms: performance.now() - t1 };
    } finally {
      bitmap.close();
      stages.unpack += t1 - t0;
      stages.classify += performance.now() - t1;
    }
  } catch (e) {
    if (e instanceof BatchAborted) throw e;
    return { ok: false, error: e instanceof Error ? e.message : String(e), backend: classifier.backend,
             ms: performance.now() - t0 };
  }
}
