// Diagnostics: what this browser and GPU offer, which backend runs, and what to do about it.

import { chooseBackend, describeSubgroups, type AdapterReport } from '../engine/adapter';
import { adviceFor, browserName } from './advice';
import { el } from './dom';
import { STATIC_SITE } from '../static/deploy';
import { APP_VERSION } from '../version';

function row(table: HTMLTableElement, name: string, value: string): void {
  const tr = table.insertRow();
  tr.append(el('th', '', name), el('td', '', value));
}

export function showDiagnosticsView(root: HTMLElement, r: AdapterReport): void {
  root.replaceChildren();
  const b = browserName(r.userAgent);
  const backend = chooseBackend('auto', r);
  const table = el('table', 'facts');
  row(table, 'Tessera', APP_VERSION);
  row(table, 'Browser', `${b.name} ${b.version}`.trim());
  row(table, 'WebGPU', !r.webgpu ? 'not available (navigator.gpu is missing)'
    : r.adapter ? 'available' : `no adapter${r.error ? `: ${r.error}` : ''}`);
  if (r.adapter) {
    row(table, 'Adapter', `${r.vendor || '?'} · ${r.architecture || '?'}${r.description ? ` · ${r.description}` : ''}`);
    row(table, 'Kind', r.software ? `software${r.fallback ? ' (fallback adapter)' : ''}` : 'hardware');
    row(table, 'shader-f16', r.features?.includes('shader-f16') ? 'yes' : 'no');
    row(table, 'subgroups', describeSubgroups(r));
    row(table, 'int8 matrix units', r.int8Matrices ? 'yes (int8 models\u2019 big convs run on them)' : 'no');
    for (const [k, v] of Object.entries(r.limits ?? {})) row(table, k, v.toLocaleString('en'));
  }
  row(table, 'Backend in use', backend === 'webgpu' ? 'WebGPU' : 'WebAssembly (wasm)');
  row(table, 'Threads', r.crossOriginIsolated ? `${r.hardwareConcurrency} (cross-origin isolated)` : '1 (not cross-origin isolated)');
  const advice = el('ul', 'advice');
  for (const a of adviceFor(r)) advice.append(el('li', '', a));
  root.append(el('h2', '', 'Diagnostics'), table, el('h3', '', 'Advice'), advice);
  // The static site has no command line beside it; the app does.
  if (!STATIC_SITE) root.append(el('p', 'meta', 'The same report from the command line: tessera doctor'));
}
