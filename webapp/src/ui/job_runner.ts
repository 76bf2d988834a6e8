// Headless mode: the CLI opened this page for one job. Load the model, classify every item the
// job lists, post each result back as soon as it exists, then say we're done.

import { getBlob, getJSON, postJSON } from '../api';
import { chooseBackend, probeAdapter, type BackendChoice } from '../engine/adapter';
import { openClassifier, type Classifier } from '../engine/classifier';
import { loadModelMeta } from '../engine/model';
import { decodeImage } from '../engine/preprocess';

interface JobSpec {
  id: string;
  model: { name: string; url: string };
  top: number;
  backend: BackendChoice;
  items: { index: number; url: string; name: string }[];
}

export async function runJob(jobId: string): Promise<void> {
  const base = `api/jobs/${encodeURIComponent(jobId)}`;
  const job = await getJSON<JobSpec>(base);
  let classifier: Classifier;
  try {
    const adapter = await probeAdapter();
    const preferred = chooseBackend(job.backend, adapter);
    const t0 = performance.now();
    const model = await loadModelMeta(job.model.url);
    const opened = await openClassifier(model, job.backend, preferred);
    classifier = opened.classifier;
    await postJSON(`${base}/status`, {
      state: 'ready', backend: classifier.backend, note: opened.note ?? null, adapter,
      load_ms: performance.now() - t0,
    });
  } catch (e) {
    await postJSON(`${base}/status`, { state: 'failed', error: String(e instanceof Error ? e.message : e) });
    return;
  }
  for (const item of job.items) {
    const t0 = performance.now();
    try {
      const blob = await getBlob(item.url);
      const t1 = performance.now();
      const bitmap = await decodeImage(blob);
      const t2 = performance.now();
      const top = await classifier.classify(bitmap, job.top);
      bitmap.close();
      const t3 = performance.now();
      await postJSON(`${base}/results`, {
        index: item.index, ok: true, top, backend: classifier.backend, ms: t3 - t0,
        stages_ms: { fetch: t1 - t0, decode: t2 - t1, classify: t3 - t2 },
      });
    } catch (e) {
      await postJSON(`${base}/results`, {
        index: item.index, ok: false, error: e instanceof Error ? e.message : String(e),
        backend: classifier.backend, ms: performance.now() - t0,
      });
    }
  }
  await classifier.dispose();
  await postJSON(`${base}/status`, { state: 'done' });
}

export async function runDoctor(): Promise<void> {
  await postJSON('api/doctor', await probeAdapter());
}
