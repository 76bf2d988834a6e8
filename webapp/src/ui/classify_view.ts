// The window's classify view: pick, drop or paste photos (or open a folder), see the top-5
// for each as a card.

import { getJSON } from '../api';
import { chooseBackend, type AdapterReport } from '../engine/adapter';
import { openClassifier, type Classifier } from '../engine/classifier';
import { loadModelMeta } from '../engine/model';
import { decodeImage } from '../engine/preprocess';
import { CardList } from './card_list';
import { el, errorText } from './dom';
import { chooseWithDialog, droppedFiles, type SourceItem } from './folder_source';
import type { ModelInfo } from './models_view';
import { Progress } from './progress';

export interface ClassifyView { refreshModels(): Promise<void> }

function fileItem(file: File): SourceItem {
  return { name: file.name, image: URL.createObjectURL(file), bytes: async () => file };
}

export async function showClassifyView(root: HTMLElement, adapter: AdapterReport): Promise<ClassifyView> {
  root.replaceChildren();
  const header = el('header');
  const modelSelect = el('select');
  modelSelect.setAttribute('aria-label', 'Model');
  const status = el('span', 'status', 'Starting…');
  const pick = el('label', 'button', 'Choose photos…');
  const input = el('input');
  input.type = 'file';
  input.multiple = true;
  input.accept = 'image/*';
  pick.append(input);
  const openFolder = el('button', 'button', 'Open folder…');
  const copyAll = el('button', 'button', 'Copy all');
  const progress = new Progress();
  header.append(modelSelect, pick, openFolder, copyAll, status);
  const drop = el('section', 'drop', 'Drop photos or folders here, or paste an image');
  const notice = el('p', 'notice');
  notice.setAttribute('role', 'status');
  const cards = new CardList((what) => { notice.textContent = what; });
  root.append(header, progress.root, drop, notice, cards.root);

  let models: ModelInfo[] = [];
  const backend = chooseBackend('auto', adapter);
  let classifier: Classifier | null = null;
  let loading: Promise<void> = Promise.resolve();   // photos wait for a model switch to finish
  let queue: Promise<void> = Promise.resolve();     // batches run one after another

  async function switchModel(): Promise<void> {
    const entry = models.find((m) => m.name === modelSelect.value);
    const old = classifier;
    classifier = null;
    await old?.dispose();
    if (!entry) { status.textContent = 'No classification model is installed.'; return; }
    status.textContent = `Loading ${entry.title}…`;
    const opened = await openClassifier(await loadModelMeta(entry.url), 'auto', backend);
    classifier = opened.classifier;
    const why = opened.note ? ` (${opened.note})`
      : backend === 'wasm' ? (adapter.adapter ? ' (software GPU only)' : ' (no WebGPU adapter)') : '';
    status.textContent = `${entry.title} on ${classifier.backend}${why}`;
  }

  function load(): Promise<void> {
    loading = loading.then(switchModel).catch((e) => { status.textContent = `Could not load the model: ${errorText(e)}`; });
    return loading;
  }

  async function refreshModels(): Promise<void> {
    const current = modelSelect.value;
    models = (await getJSON<ModelInfo[]>('api/models')).filter((m) => m.task === 'classify');
    modelSelect.replaceChildren(...models.map((m) => new Option(m.title, m.name)));
    const keep = models.find((m) => m.name === current) ?? models.find((m) => m.default) ?? models[0];
    if (keep) modelSelect.value = keep.name;
    if (keep?.name !== current) await load();
  }

  async function run(items: SourceItem[]): Promise<void> {
    const placed = items.map((item) => ({ item, card: cards.add(item.name, item.image) }));
    progress.start(items.length);
    for (const { item, card } of placed) {
      await loading;
      if (!classifier) { cards.show(card, { name: item.name, error: 'No model loaded.' }); progress.step(); continue; }
      const t0 = performance.now();
      try {
        const bitmap = await decodeImage(await item.bytes());
        const top = await classifier.classify(bitmap, 5);
        bitmap.close();
        cards.show(card, { name: item.name, top, backend: classifier.backend, ms: performance.now() - t0 });
      } catch (e) {
        cards.show(card, { name: item.name, error: errorText(e) });
      }
      progress.step();
    }
  }

  function classify(items: SourceItem[]): void {
    if (items.length) queue = queue.then(() => run(items));
  }

  modelSelect.addEventListener('change', () => { void load(); });
  input.addEventListener('change', () => { if (input.files) classify([...input.files].map(fileItem)); input.value = ''; });
  openFolder.addEventListener('click', async () => {
    try {
      const items = await chooseWithDialog('folder');
      if (items === null) notice.textContent = 'No folder dialog is available here: drop a folder onto the window instead.';
      else classify(items);
    } catch (e) {
      notice.textContent = errorText(e);
    }
  });
  copyAll.addEventListener('click', () => void cards.copy().catch((e) => { notice.textContent = `Could not copy: ${errorText(e)}`; }));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) classify((await droppedFiles(e.dataTransfer)).map(fileItem));
  });
  document.addEventListener('paste', (e) => {
    if (e.clipboardData && !root.hidden) classify([...e.clipboardData.files].map(fileItem));
  });
  await refreshModels();
  return { refreshModels };
}
