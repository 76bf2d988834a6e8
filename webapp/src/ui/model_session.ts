// The classification model the views share: which one is chosen, loading it, and running it
// one image at a time (the classify view's batches and the camera's frames take turns, since
// one onnxruntime session must not run twice at once). Each view gets its own picker; all of
// them follow the one choice.

import { chooseBackend, type AdapterReport, type BackendName } from '../engine/adapter';
import { openClassifier, type Classifier } from '../engine/classifier';
import { loadModelMeta } from '../engine/model';
import type { Prediction } from '../engine/topk';
import { installedModels } from '../static/deploy';
import { errorText } from './dom';
import type { ModelInfo } from './models_view';

export interface Classified { top: Prediction[]; backend: BackendName; model: string }

export class ModelSession {
  private models: ModelInfo[] = [];
  private chosen = '';
  private classifier: Classifier | null = null;
  private loaded = '';              // the library name of classifier's model
  // Listing, loading and classifying run one after another, in the order they were asked for:
  // an image waits for the model chosen before it, and a switch for the image in progress.
  private queue: Promise<unknown> = Promise.resolve();
  private pickers: HTMLSelectElement[] = [];
  private listeners: ((status: string) => void)[] = [];
  private backend: BackendName;
  private status = 'Starting…';

  constructor(private adapter: AdapterReport) {
    this.backend = chooseBackend('auto', adapter);
  }

  /** A model menu for a view's toolbar, kept in step with every other. */
  picker(): HTMLSelectElement {
    const select = document.createElement('select');
    select.setAttribute('aria-label', 'Model');
    select.addEventListener('change', () => void this.choose(select.value));
    this.pickers.push(select);
    this.fillPicker(select);
    return select;
  }

  /** Called with the status line ("X on wasm", "Loading…", an error) now and on each change. */
  onStatus(listener: (status: string) => void): void {
    this.listeners.push(listener);
    listener(this.status);
  }

  /** Re-read the installed models; keeps the current choice if it is still there. Images sent
   *  meanwhile wait for it, so a camera that starts before the list arrives does not find no model. */
  refresh(): Promise<void> {
    return this.enqueue(() => this.relist());
  }

  choose(name: string): Promise<void> {
    this.chosen = name;
    for (const p of this.pickers) p.value = name;
    return this.enqueue(() => this.load(name));
  }

  /** The top-k for one image, after any model switch and any other image asked for before it. */
  classify(image: ImageBitmap, k: number): Promise<Classified> {
    return this.enqueue(async () => {
      const c = this.classifier;
      if (!c) throw new Error('No model is loaded: install or choose one under Models.');
      const top = await c.classify(image, k);
      // The classifier may have changed backend mid-session (the GPU device kept failing).
      if (c.note && !this.status.includes(c.note)) this.setStatus(`${this.loaded} on ${c.backend} (${c.note})`);
      return { top, backend: c.backend, model: this.loaded };
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async relist(): Promise<void> {
    try {
      this.models = (await installedModels()).filter((m) => m.task === 'classify');
    } catch (e) {
      this.setStatus(`Could not list the models: ${errorText(e)}`);
      return;
    }
    const keep = this.models.find((m) => m.name === this.chosen) ?? this.models.find((m) => m.default) ?? this.models[0];
    this.chosen = keep?.name ?? '';
    for (const p of this.pickers) this.fillPicker(p);
    await this.load(this.chosen);
  }

  /** Never rejects: a model that cannot be opened is reported in the status line. */
  private async load(name: string): Promise<void> {
    try {
      await this.open(name);
    } catch (e) {
      this.setStatus(`Could not load the model: ${errorText(e)}`);
    }
  }

  private async open(name: string): Promise<void> {
    if (this.classifier && this.loaded === name) return;
    const old = this.classifier;
    this.classifier = null;
    this.loaded = '';
    await old?.dispose();
    const entry = this.models.find((m) => m.name === name);
    if (!entry) { this.setStatus('No classification model is installed.'); return; }
    this.setStatus(`Loading ${entry.title}…`);
    const opened = await openClassifier(await loadModelMeta(entry.url), 'auto', this.backend);
    this.classifier = opened.classifier;
    this.loaded = name;
    const why = opened.note ? ` (${opened.note})`
      : this.backend === 'wasm' ? (this.adapter.adapter ? ' (software GPU only)' : ' (no WebGPU adapter)') : '';
    this.setStatus(`${entry.title} on ${opened.classifier.backend}${why}`);
  }

  private fillPicker(select: HTMLSelectElement): void {
    select.replaceChildren(...this.models.map((m) => new Option(m.title, m.name)));
    select.value = this.chosen;
  }

  private setStatus(status: string): void {
    this.status = status;
    for (const l of this.listeners) l(status);
  }
}
