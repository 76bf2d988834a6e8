// Headless mode: the CLI opened this page for one batch job. Load the model the job names,
// say so (or why not), run the job's batches, then say we're done.

import { getJSON, postJSON } from '../api';
import { chooseBackend, probeAdapter, type BackendChoice } from '../engine/adapter';
import { openClassifier } from '../engine/classifier';
import { loadModelMeta } from '../engine/model';
import { runBatchJob } from './batch_job';

interface BatchJobSpec {
  id: string;
  model: { name: string; url: string };
  top: number;
  backend: BackendChoice;
}

export async function runBatchPage(jobId: string): Promise<void> {
  const status = `api/jobs/${encodeURIComponent(jobId)}/status`;
  const fail = (e: unknown) => postJSON(status, { state: 'failed', error: e instanceof Error ? e.message : String(e) });
  const job = await getJSON<BatchJobSpec>(`api/jobs/${encodeURIComponent(jobId)}`);
  let opened;
  try {
    const adapter = await probeAdapter();
    const t0 = performance.now();
    const model = await loadModelMeta(job.model.url);
    opened = await openClassifier(model, job.backend, chooseBackend(job.backend, adapter));
    await postJSON(status, {
      state: 'ready', backend: opened.classifier.backend, note: opened.note ?? null, adapter,
      load_ms: performance.now() - t0,
    });
  } catch (e) {
    return fail(e);
  }
  try {
    await runBatchJob(opened.classifier, job.id, job.top);
    await postJSON(status, { state: 'done' });
  } catch (e) {
    await fail(e);
  } finally {
    await opened.classifier.dispose();
  }
}
