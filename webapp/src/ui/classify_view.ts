// The window's classify view: pick or drop photos, see the top-5 for each as a card.

import { getJSON } from '../api';
import { chooseBackend, probeAdapter } from '../engine/adapter';
import { createClassifier, type Classifier } from '../engine/classifier';
import { loadModelMeta } from '../engine/model';
import { decodeImage } from '../engine/preprocess';

interface ModelEntry { name: string; title: string; task: string; url: string }

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

export async function showClassifyView(root: HTMLElement): Promise<void> {
  root.replaceChildren();
  const header = el('header');
  header.append(el('h1', '', 'Tessera'));
  const modelSelect = el('select');
  const status = el('span', 'status', 'Starting…');
  const pick = el('label', 'button', 'Choose photos…');
  const input = el('input');
  input.type = 'file';
  input.multiple = true;
  input.accept = 'image/*';
  pick.append(input);
  header.append(modelSelect, pick, status);
  const drop = el('section', 'drop', 'Drop photos here');
  const cards = el('section', 'cards');
  root.append(header, drop, cards);

  const models = (await getJSON<ModelEntry[]>('api/models')).filter((m) => m.task === 'classify');
  for (const m of models) modelSelect.append(new Option(m.title, m.name));
  const adapter = await probeAdapter();
  const backend = chooseBackend('auto', adapter);
  let classifier: Classifier | null = null;
  let loading: Promise<void> = Promise.resolve();   // photos wait for a model switch to finish

  async function switchModel(): Promise<void> {
    const entry = models.find((m) => m.name === modelSelect.value);
    const old = classifier;
    classifier = null;
    await old?.dispose();
    if (!entry) { status.textContent = 'No classification model is installed.'; return; }
    status.textContent = `Loading ${entry.title}…`;
    classifier = await createClassifier(await loadModelMeta(entry.url), backend);
    const why = backend === 'wasm' ? (adapter.adapter ? ' (software GPU only)' : ' (no WebGPU adapter)') : '';
    status.textContent = `${entry.title} on ${backend}${why}`;
  }

  function load(): Promise<void> {
    loading = loading.then(switchModel).catch((e) => { status.textContent = `Could not load the model: ${e}`; });
    return loading;
  }

  async function classifyFiles(files: Iterable<File>): Promise<void> {
    for (const file of files) {
      const card = el('article', 'card');
      const img = el('img');
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      const body = el('div', 'body');
      body.append(el('h2', '', file.name));
      card.append(img, body);
      cards.prepend(card);
      await loading;
      if (!classifier) { body.append(el('p', 'error', 'No model loaded.')); continue; }
      const t0 = performance.now();
      try {
        const bitmap = await decodeImage(file);
        const top = await classifier.classify(bitmap, 5);
        bitmap.close();
        const list = el('ol');
        for (const p of top) {
          const li = el('li');
          const bar = el('span', 'bar');
          bar.style.width = `${(p.score * 100).toFixed(1)}%`;
          li.append(el('span', 'label', p.label), el('span', 'score', `${(p.score * 100).toFixed(1)}%`), bar);
          list.append(li);
        }
        body.append(list, el('p', 'meta', `${classifier.backend} · ${(performance.now() - t0).toFixed(0)} ms`));
      } catch (e) {
        body.append(el('p', 'error', e instanceof Error ? e.message : String(e)));
      }
    }
  }

  modelSelect.addEventListener('change', () => { void load(); });
  input.addEventListener('change', () => { if (input.files) void classifyFiles(input.files); });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) void classifyFiles(e.dataTransfer.files);
  });
  document.addEventListener('paste', (e) => {
    if (e.clipboardData) void classifyFiles(e.clipboardData.files);
  });
  await load();
}
