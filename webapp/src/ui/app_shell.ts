// The app window's layout: a sidebar with the views, a banner when the GPU can't be used, and
// the adapter probe that decides the backend (reported to the shell, which words the banner).
// The classify, camera and batch views share one model session; the camera runs only while shown.
// The style view has its own network (multistyle26) and stops its camera when left.
// As a static site there is no shell: the views that need it (batch jobs, the model library,
// the style editor's exports) are left out, and the service worker makes the page work offline.

import { postFor } from '../api';
import { probeAdapter, type AdapterReport } from '../engine/adapter';
import { showBatchView } from './batch_view';
import { showCameraView, type CameraView } from './camera_view';
import { showClassifyView } from './classify_view';
import { showDiagnosticsView } from './diagnostics_view';
import { el, errorText } from './dom';
import { ModelSession } from './model_session';
import { showModelsView } from './models_view';
import { showStyleView, type StyleView } from './style_view';
import { STATIC_SITE } from '../static/deploy';
import { enableOffline } from '../static/offline';

const ALL_VIEWS = ['classify', 'camera', 'batch', 'style', 'models', 'diagnostics'] as const;
type ViewName = (typeof ALL_VIEWS)[number];
const VIEWS: readonly ViewName[] = STATIC_SITE ? ['classify', 'camera', 'diagnostics'] : ALL_VIEWS;
const TITLES: Record<ViewName, string> = {
  classify: 'Classify', camera: 'Camera', batch: 'Batch', style: 'Style', models: 'Models', diagnostics: 'Diagnostics',
};

async function reportAdapter(report: AdapterReport): Promise<string | null> {
  try {
    return (await postFor<{ banner: string | null }>('api/adapter', report)).banner;
  } catch {
    return null;    // a plain web host has no shell to report to
  }
}

export async function showApp(root: HTMLElement): Promise<void> {
  root.replaceChildren();
  root.classList.add('shell');
  const nav = el('nav');
  nav.append(el('div', 'brand', 'Tessera'));
  const main = el('div', 'main');
  const banner = el('div', 'banner');
  banner.hidden = true;
  banner.setAttribute('role', 'note');
  const panes = Object.fromEntries(VIEWS.map((v) => {
    const pane = el('section', `view view-${v}`);
    pane.hidden = true;
    return [v, pane];
  })) as Record<ViewName, HTMLElement>;
  const links = Object.fromEntries(VIEWS.map((v) => {
    const a = el('a', '', TITLES[v]);
    a.href = `#${v}`;
    nav.append(a);
    return [v, a];
  })) as Record<ViewName, HTMLAnchorElement>;
  main.append(banner, ...Object.values(panes));
  root.append(nav, main);

  const adapter = await probeAdapter();
  const say = (text: string | null): void => { banner.textContent = text ?? ''; banner.hidden = !text; };
  if (STATIC_SITE) void enableOffline(say).catch((e) => say(`Offline use is not available: ${errorText(e)}`));
  else void reportAdapter(adapter).then(say);
  const session = new ModelSession(adapter);
  const models = session.refresh();
  let classifyShown = false;
  let batchShown = false;
  let camera: CameraView | null = null;
  let style: StyleView | null = null;

  async function show(): Promise<void> {
    const name = (VIEWS as readonly string[]).includes(location.hash.slice(1)) ? location.hash.slice(1) as ViewName : 'classify';
    for (const v of VIEWS) {
      panes[v].hidden = v !== name;
      links[v].classList.toggle('active', v === name);
      if (v === name) links[v].setAttribute('aria-current', 'page'); else links[v].removeAttribute('aria-current');
    }
    if (name !== 'camera') camera?.leave();
    if (name !== 'style') style?.leave();
    if (name === 'classify' && !classifyShown) {
      classifyShown = true;
      await showClassifyView(panes.classify, session);
    }
    if (name === 'camera') {
      camera ??= showCameraView(panes.camera, session);
      camera.enter();
    }
    if (name === 'batch' && !batchShown) {
      batchShown = true;
      showBatchView(panes.batch, session);
    }
    if (name === 'style') {
      style ??= showStyleView(panes.style, adapter);
      style.enter();
    }
    if (name === 'models') await showModelsView(panes.models, () => void session.refresh());
    if (name === 'diagnostics') showDiagnosticsView(panes.diagnostics, adapter);
  }
  addEventListener('hashchange', () => void show().catch((e) => say(`Could not show that view: ${errorText(e)}`)));
  await show();
  await models;
}
