// The Style view: a photo stylised with the 26 built-in styles (alone or mixed), previewed live
// on the GPU with strength, original colours, a before/after split, zoom and pan; exported at
// full resolution into the output folder; the camera stylised live. Edits are undoable and
// the last editing state (photo included) comes back when the app opens again.

import type { AdapterReport } from '../engine/adapter';
import { decodeImage } from '../engine/preprocess';
import { cameraErrorText } from './camera';
import { el, errorText } from './dom';
import { openDialog } from './folder_source';
import { OutputFolderChoice } from './output_folder';
import { ExportCancelled, exportStyled, outputSize, type ExportFormat } from './style_export';
import { StyleCamera } from './style_camera';
import { StyleGallery } from './style_gallery';
import { StylePreview } from './style_preview';
import { StyleRenderer } from './style_renderer';
import { describeStyle, EditHistory, loadSavedState, normalisedWeights, type StylePhoto, type StyleState } from './style_state';

const PREVIEW_SIDE = 512;     // the preview's longer side; exports use the output resolution
const RESOLUTIONS: [string, number][] = [['Full size', 0], ['4096 px', 4096], ['2048 px', 2048], ['1024 px', 1024], ['512 px', 512]];

export interface StyleView { enter(): void; leave(): void }

function slider(label: string, min: number, max: number, step: number): HTMLInputElement {
  const input = el('input');
  input.type = 'range';
  input.min = String(min);
  input.max = String(max);
  input.step = String(step);
  input.setAttribute('aria-label', label);
  return input;
}

function field(label: string, control: HTMLElement): HTMLElement {
  const row = el('label', 'style-field');
  row.append(el('span', 'style-label', label), control);
  return row;
}

export function showStyleView(root: HTMLElement, adapter: AdapterReport): StyleView {
  root.replaceChildren();
  const header = el('header');
  const open = el('button', 'button primary', 'Open photo…');
  const pick = el('label', 'button', 'Choose file');
  const file = el('input');
  file.type = 'file';
  file.accept = 'image/*';
  pick.append(file);
  const cameraButton = el('button', 'button', 'Camera');
  const undo = el('button', 'button', 'Undo');
  undo.title = 'Undo (Ctrl+Z)';
  const redo = el('button', 'button', 'Redo');
  redo.title = 'Redo (Ctrl+Shift+Z)';
  const zoomOut = el('button', 'button', '−');
  zoomOut.setAttribute('aria-label', 'Zoom out');
  const fit = el('button', 'button', 'Fit');
  const zoomIn = el('button', 'button', '+');
  zoomIn.setAttribute('aria-label', 'Zoom in');
  const status = el('span', 'status', 'Starting…');
  header.append(open, pick, cameraButton, undo, redo, el('span', 'style-gap'), zoomOut, fit, zoomIn, status);

  const preview = new StylePreview();
  const fps = el('span', 'fps');
  fps.setAttribute('aria-label', 'Frames stylised per second');
  preview.root.append(fps);

  const side = el('aside', 'style-side');
  const styles = el('section', 'style-section');
  styles.append(el('h3', '', 'Style'));
  const strength = slider('Strength', 0, 1, 0.01);
  const preserve = el('input');
  preserve.type = 'checkbox';
  const split = slider('Before and after', 0, 1, 0.01);
  split.value = '0';
  const adjust = el('section', 'style-section');
  const preserveRow = el('label', 'check');
  preserveRow.append(preserve, 'Keep the original colours');
  adjust.append(el('h3', '', 'Adjust'), field('Strength', strength), preserveRow, field('Before | after', split));
  const resolution = el('select');
  resolution.setAttribute('aria-label', 'Output resolution');
  resolution.append(...RESOLUTIONS.map(([label, side]) => new Option(label, String(side))));
  const format = el('select');
  format.setAttribute('aria-label', 'Export format');
  format.append(new Option('PNG', 'png'), new Option('JPEG', 'jpg'), new Option('WebP', 'webp'));
  const notice = el('p', 'notice');
  notice.setAttribute('role', 'status');
  const folder = new OutputFolderChoice((m) => { notice.textContent = m; }, {
    button: 'Output folder…', title: 'Choose the folder exported pictures are written into', remember: true,
    noDialog: 'exports need a folder chosen in a dialog.',
  });
  const exportButton = el('button', 'button primary', 'Export');
  const cancel = el('button', 'button', 'Cancel');
  cancel.hidden = true;
  const working = el('progress');
  working.hidden = true;
  const exporting = el('section', 'style-section');
  const actions = el('div', 'style-actions');
  actions.append(exportButton, cancel, working);
  exporting.append(el('h3', '', 'Export'), field('Resolution', resolution), field('Format', format), folder.root, actions);
  side.append(styles, adjust, exporting, notice);
  const body = el('div', 'style-body');
  body.append(preview.root, side);
  root.append(header, body);

  let renderer: StyleRenderer | null = null;
  let gallery: StyleGallery | null = null;
  let photo: ImageBitmap | null = null;           // the whole photo, upright
  let previewImage: ImageBitmap | null = null;    // the photo at the preview's size
  let shownPhoto: StylePhoto | null = null;
  const dropped = new WeakMap<StylePhoto, Blob>();  // photos given as bytes, for this session
  let camera: StyleCamera | null = null;
  let exportRun: AbortController | null = null;
  let shown = false;
  const history = new EditHistory(loadSavedState(), (s) => void apply(s));

  function setControlsEnabled(on: boolean): void {
    for (const c of [open, cameraButton, strength, preserve, split, exportButton]) c.disabled = !on;
    file.disabled = !on;
  }

  /** The canvas is marked idle once every requested draw is done (the tests wait for it). */
  function drawn(): void {
    preview.canvas.dataset.idle = 'false';
    preview.root.classList.add('busy');
    void renderer?.settled().then(() => {
      if (renderer?.busy) return;
      preview.canvas.dataset.idle = 'true';
      preview.root.classList.remove('busy');
    });
  }

  function compositing(state: StyleState) {
    return { strength: state.strength, preserveColours: state.preserveColours, split: Number(split.value) };
  }

  function renderPhoto(weights: number[]): void {
    if (!renderer || !previewImage || camera) return;
    renderer.render(previewImage, normalisedWeights(weights));
    drawn();
  }

  async function loadPhoto(wanted: StylePhoto | null): Promise<void> {
    shownPhoto = wanted;
    if (!wanted) { preview.say('Open a photo to stylise it.'); return; }
    try {
      let blob = dropped.get(wanted);
      if (!blob) {
        if (!wanted.url) throw new Error('it was dropped into the window, so it can’t be opened again by itself');
        const res = await fetch(wanted.url);
        if (!res.ok) throw new Error(res.status === 403 || res.status === 404 ? 'it is no longer available to Tessera' : `HTTP ${res.status}`);
        blob = await res.blob();
      }
      const full = await decodeImage(blob);
      if (shownPhoto !== wanted) { full.close(); return; }     // another photo was opened meanwhile
      const size = outputSize(full.width, full.height, PREVIEW_SIDE, renderer?.info.sizeMultiple ?? 4);
      const small = await createImageBitmap(full, { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high' });
      photo?.close();
      previewImage?.close();
      [photo, previewImage] = [full, small];
      preview.setSize(size.width, size.height);
      preview.say(null);
      renderPhoto(history.state.weights);
    } catch (e) {
      preview.say(`“${wanted.name}” could not be opened: ${errorText(e)}. Open it again with Open photo….`);
    }
  }

  let applied: StyleState | null = null;
  async function apply(state: StyleState): Promise<void> {
    gallery?.show(state.weights);
    strength.value = String(state.strength);
    preserve.checked = state.preserveColours;
    resolution.value = String(state.resolution);
    undo.disabled = !history.canUndo;
    redo.disabled = !history.canRedo;
    const before = applied;
    applied = state;
    if (!renderer) return;
    renderer.composite(compositing(state));
    drawn();
    if (before?.photo !== state.photo) await loadPhoto(state.photo);
    else if (before.weights.join() !== state.weights.join()) renderPhoto(state.weights);
  }

  async function openWithDialog(): Promise<void> {
    const reply = await openDialog('files', 'images');
    if (reply === null) { notice.textContent = 'No file dialog here: use Choose file or drop a photo on the preview.'; return; }
    const chosen = reply.files[0];
    if (chosen) history.commit({ photo: { name: chosen.name, url: chosen.url } });
  }

  function openBlob(f: File): void {
    const wanted = { name: f.name, url: null };
    dropped.set(wanted, f);
    history.commit({ photo: wanted });
    // A file of the same name as the one shown is no new state, but may be new bytes.
    if (history.state.photo !== wanted) void loadPhoto(wanted);
  }

  async function startCamera(): Promise<void> {
    if (!renderer) return;
    try {
      const opened = await StyleCamera.open();
      if (!shown || document.hidden) { opened.stop(); return; }     // left while it opened
      camera = opened;
      cameraButton.textContent = 'Stop camera';
      preview.say(null);
      await opened.run(renderer, () => normalisedWeights(history.state.weights), (w, h) => preview.setSize(w, h),
        (rate) => { fps.textContent = `${rate.toFixed(1)} fps`; });
    } catch (e) {
      stopCamera();
      notice.textContent = cameraErrorText(e);
    }
  }

  function stopCamera(): void {
    if (!camera) return;
    camera.stop();
    camera = null;
    cameraButton.textContent = 'Camera';
    fps.textContent = '';
    if (previewImage) { preview.setSize(previewImage.width, previewImage.height); renderPhoto(history.state.weights); }
    else preview.say('Open a photo to stylise it.');
  }

  async function exportPicture(): Promise<void> {
    if (!renderer || !photo) { notice.textContent = 'Open a photo first.'; return; }
    const target = await folder.ensure();
    if (!target) return;
    exportRun = new AbortController();
    exportButton.disabled = true;
    cancel.hidden = working.hidden = false;
    notice.textContent = 'Rendering at full resolution…';
    working.removeAttribute('value');     // indeterminate until the first tile is done
    try {
      const name = await exportStyled({
        model: renderer.model, styleInput: renderer.info.styleInput, sizeMultiple: renderer.info.sizeMultiple, photo,
        state: history.state, style: describeStyle(history.state.weights, renderer.info.styleNames),
        format: format.value as ExportFormat, folder: target, signal: exportRun.signal,
        onProgress: ({ done, total }) => {
          working.max = total;
          working.value = done;
          notice.textContent = `Rendering at full resolution: ${done} of ${total} steps…`;
        },
      });
      notice.textContent = `Exported ${name} to ${target.name}.`;
    } catch (e) {
      notice.textContent = e instanceof ExportCancelled ? 'Export cancelled.' : `Could not export: ${errorText(e)}`;
    } finally {
      exportRun = null;
      exportButton.disabled = false;
      cancel.hidden = working.hidden = true;
    }
  }

  open.addEventListener('click', () => void openWithDialog().catch((e) => { notice.textContent = errorText(e); }));
  file.addEventListener('change', () => { if (file.files?.[0]) openBlob(file.files[0]); file.value = ''; });
  preview.root.addEventListener('dragover', (e) => e.preventDefault());
  preview.root.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = [...(e.dataTransfer?.files ?? [])].find((x) => x.type.startsWith('image/'));
    if (f) openBlob(f);
  });
  cameraButton.addEventListener('click', () => { if (camera) stopCamera(); else void startCamera(); });
  undo.addEventListener('click', () => history.undo());
  redo.addEventListener('click', () => history.redo());
  zoomIn.addEventListener('click', () => preview.zoomBy(1.25));
  zoomOut.addEventListener('click', () => preview.zoomBy(0.8));
  fit.addEventListener('click', () => preview.fit());
  strength.addEventListener('input', () => { renderer?.composite({ ...compositing(history.state), strength: Number(strength.value) }); drawn(); });
  strength.addEventListener('change', () => history.commit({ strength: Number(strength.value) }));
  preserve.addEventListener('change', () => history.commit({ preserveColours: preserve.checked }));
  split.addEventListener('input', () => {
    preview.setSplit(Number(split.value));
    renderer?.composite(compositing(history.state));
    drawn();
  });
  resolution.addEventListener('change', () => history.commit({ resolution: Number(resolution.value) }));
  exportButton.addEventListener('click', () => void exportPicture());
  cancel.addEventListener('click', () => exportRun?.abort(new ExportCancelled()));
  document.addEventListener('keydown', (e) => {
    if (!shown || !(e.ctrlKey || e.metaKey) || e.target instanceof HTMLInputElement && e.target.type === 'text') return;
    const key = e.key.toLowerCase();
    if (key === 'z' && !e.shiftKey) { e.preventDefault(); history.undo(); }
    else if ((key === 'z' && e.shiftKey) || key === 'y') { e.preventDefault(); history.redo(); }
  });
  document.addEventListener('visibilitychange', () => { if (document.hidden) stopCamera(); });

  async function start(): Promise<void> {
    void apply(history.state);
    void folder.restore().catch(() => undefined);
    const context = adapter.adapter ? preview.context() : null;
    if (!context) {
      setControlsEnabled(false);
      status.textContent = 'No WebGPU';
      preview.say('The style editor needs WebGPU, and this window offers no WebGPU adapter. Open Tessera in Chromium, '
        + 'Chrome, Edge or Brave with hardware acceleration on (Diagnostics shows what this window has).');
      return;
    }
    setControlsEnabled(false);
    status.textContent = 'Loading the style model…';
    try {
      renderer = await StyleRenderer.open(context);
    } catch (e) {
      status.textContent = 'Style model not loaded';
      preview.say(`The style model could not be loaded: ${errorText(e)}`);
      return;
    }
    renderer.onDrawn = (e) => { if (e) preview.say(`The preview could not be drawn: ${errorText(e)}. Try a smaller photo, or reopen the window.`); };
    gallery = new StyleGallery(renderer.info.styleNames, renderer.info.gallery, {
      commit: (weights) => history.commit({ weights }),
      preview: (weights) => renderPhoto(weights),
    });
    styles.append(gallery.root);
    setControlsEnabled(true);
    status.textContent = `multistyle26 on webgpu${adapter.software ? ' (software GPU: slow)' : ''}`;
    applied = null;
    await apply(history.state);
  }

  let started = false;
  return {
    enter() {
      shown = true;
      if (!started) { started = true; void start(); }
    },
    leave() { shown = false; stopCamera(); },
  };
}
