// The Style view: a photo stylised with the 26 built-in styles or with style images the user
// adds (the arbitrary-style pair; their vectors blended, and with the photo's own style),
// previewed live on the GPU with strength, original colours, a before/after split, zoom and
// pan; exported at full resolution into the output folder; the camera stylised live. Edits are
// undoable and the last editing state (photo and readable style images included) comes back
// when the app opens again.

import type { AdapterReport } from '../engine/adapter';
import { decodeImage } from '../engine/preprocess';
import { cameraErrorText } from './camera';
import { el, errorText } from './dom';
import { openDialog } from './folder_source';
import { OutputFolderChoice } from './output_folder';
import { ExportCancelled, exportStyled, outputSize, type ExportFormat } from './style_export';
import { StyleCamera, type PreviewStyle } from './style_camera';
import { StyleGallery } from './style_gallery';
import { StyleImageError, StyleImageLibrary, StylePredictor } from './style_images';
import { StylePreview } from './style_preview';
import { openTransform, StyleRenderer, type PreviewNetwork } from './style_renderer';
import {
  describeStyle, EditHistory, loadSavedState, normalisedWeights, STYLE_COUNT, withoutImageStyles,
  type ImageStyle, type StylePhoto, type StyleState,
} from './style_state';

const PREVIEW_SIDE = 512;     // the preview's longer side; exports use the output resolution
/** The style-related part of the state: what, when changed, runs the network again. */
const styleKey = (s: StyleState | null) => s && JSON.stringify(
  [s.weights, s.imageStyles.map((i) => i.id), s.imageWeights, s.useImages, s.photoStyle]);
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
  const addStyle = el('button', 'button', 'Style image…');
  addStyle.title = 'Add a picture as a style';
  const pickStyle = el('label', 'button', 'Style from file');
  const styleFile = el('input');
  styleFile.type = 'file';
  styleFile.accept = 'image/*';
  pickStyle.append(styleFile);
  const styleActions = el('div', 'style-actions');
  styleActions.append(addStyle, pickStyle);
  styles.append(el('h3', '', 'Style'), styleActions);
  const strength = slider('Strength', 0, 1, 0.01);
  const preserve = el('input');
  preserve.type = 'checkbox';
  const split = slider('Before and after', 0, 1, 0.01);
  split.value = '0';
  const photoStyle = slider("Photo's own style", 0, 1, 0.01);
  const photoStyleRow = field("Photo's own style", photoStyle);
  photoStyleRow.title = 'Blend the style images with the style of the photo itself';
  const adjust = el('section', 'style-section');
  const preserveRow = el('label', 'check');
  preserveRow.append(preserve, 'Keep the original colours');
  adjust.append(el('h3', '', 'Adjust'), field('Strength', strength), photoStyleRow, preserveRow, field('Before | after', split));
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
  let transform: Promise<PreviewNetwork> | null = null;     // loaded when an image style is first used
  let predictor: Promise<StylePredictor> | null = null;
  let predictorInfo: StylePredictor | null = null;
  let ownVector: { of: ImageBitmap; vector: Promise<Float32Array> } | null = null;   // the photo's style
  let shownStyle: PreviewStyle | null = null;       // what the preview shows (the camera uses it)
  let preparing = 0;                                // style vectors being computed for a render
  let renderSeq = 0;
  const library = new StyleImageLibrary(() => {
    predictor ??= StylePredictor.open(adapter).then((p) => { predictorInfo = p; backendLine(); return p; });
    return predictor;
  });
  let photo: ImageBitmap | null = null;           // the whole photo, upright
  let previewImage: ImageBitmap | null = null;    // the photo at the preview's size
  let shownPhoto: StylePhoto | null = null;
  const dropped = new WeakMap<StylePhoto, Blob>();  // photos given as bytes, for this session
  let camera: StyleCamera | null = null;
  let exportRun: AbortController | null = null;
  let shown = false;
  const history = new EditHistory(loadSavedState(), (s) => void apply(s));

  function setControlsEnabled(on: boolean): void {
    for (const c of [open, cameraButton, strength, preserve, split, exportButton, addStyle, photoStyle]) c.disabled = !on;
    file.disabled = styleFile.disabled = !on;
  }

  /** What runs the preview, and the style images' predictor once it is open (why, on wasm). */
  function backendLine(loading = ''): void {
    if (!renderer) return;
    const parts = [`Preview on webgpu (Tessera's engine${adapter.software ? ', on a software GPU: slow' : ''})`];
    if (predictorInfo) {
      parts.push(`style images read on ${predictorInfo.backend}${predictorInfo.why ? ` because ${predictorInfo.why}` : ''}`);
    }
    if (loading) parts.push(loading);
    status.textContent = parts.join('; ');
  }

  /** The canvas is marked idle once every requested draw is done (the tests wait for it). */
  function updateIdle(): void {
    const idle = preparing === 0 && !renderer?.busy;
    preview.canvas.dataset.idle = String(idle);
    preview.root.classList.toggle('busy', !idle);
  }

  function drawn(): void {
    updateIdle();
    void renderer?.settled().then(updateIdle);
  }

  function imageTransform(): Promise<PreviewNetwork> {
    if (!transform) {
      backendLine('loading the image-style network…');
      transform = openTransform().finally(() => backendLine());
      transform.catch(() => { transform = null; });
    }
    return transform;
  }

  function photoVector(): Promise<Float32Array> | null {
    if (!photo) return null;
    if (ownVector?.of !== photo) {
      const of = photo;
      ownVector = { of, vector: library.predictor().then((p) => p.vector(of)) };
    }
    return ownVector.vector;
  }

  /** The network and style input for a state's style choice. */
  async function styleFor(state: StyleState): Promise<PreviewStyle> {
    if (!state.useImages) return { network: renderer!.builtIn, style: normalisedWeights(state.weights) };
    const network = await imageTransform();
    const own = state.photoStyle > 0 ? await photoVector() : null;
    return { network, style: await library.blend(state.imageStyles, state.imageWeights, own, state.photoStyle) };
  }

  function styleProblem(e: unknown): string {
    return e instanceof StyleImageError ? e.message : `The image style could not be used: ${errorText(e)}.`;
  }

  function compositing(state: StyleState) {
    return { strength: state.strength, preserveColours: state.preserveColours, split: Number(split.value) };
  }

  /** Runs the preview for this style choice (the newest request wins). */
  async function renderPhoto(state: StyleState): Promise<void> {
    if (!renderer) return;
    const seq = ++renderSeq;
    preparing++;
    updateIdle();
    try {
      const chosen = await styleFor(state);
      if (seq !== renderSeq) return;
      shownStyle = chosen;
      if (!previewImage || camera) return;
      renderer.render(previewImage, chosen.style, chosen.network);
    } catch (e) {
      if (seq === renderSeq) notice.textContent = styleProblem(e);
    } finally {
      preparing--;
      drawn();
    }
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
      void renderPhoto(history.state);
    } catch (e) {
      preview.say(`“${wanted.name}” could not be opened: ${errorText(e)}. Open it again with Open photo….`);
    }
  }

  /** The gallery's weights: one per tile, built-in styles first. */
  function galleryWeights(state: StyleState): number[] {
    const none = (n: number) => new Array<number>(n).fill(0);
    return state.useImages ? [...none(STYLE_COUNT), ...state.imageWeights] : [...state.weights, ...none(state.imageStyles.length)];
  }

  function fromGallery(weights: number[], state: StyleState): Partial<StyleState> {
    const images = weights.slice(STYLE_COUNT);
    return images.some((w) => w > 0) ? { useImages: true, imageWeights: images }
      : { useImages: false, weights: weights.slice(0, STYLE_COUNT), imageWeights: state.imageStyles.map(() => 0) };
  }

  let applied: StyleState | null = null;
  async function apply(state: StyleState): Promise<void> {
    if (gallery && applied?.imageStyles !== state.imageStyles) {
      gallery.setImageStyles(state.imageStyles.map((s) => ({ name: s.name, thumbnail: library.thumbnail(s) })));
    }
    gallery?.show(galleryWeights(state));
    photoStyleRow.hidden = !state.useImages;
    photoStyle.value = String(state.photoStyle);
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
    else if (styleKey(before) !== styleKey(state)) await renderPhoto(state);
  }

  /** Adds a style image to the gallery and uses it alone, once its style vector is known (a
   *  file that is no image gets one sentence and is not added). */
  async function addImageStyle(style: ImageStyle, blob?: Blob): Promise<void> {
    const known = style.url ? history.state.imageStyles.find((s) => s.url === style.url) : undefined;
    const s = history.state;
    if (known) {
      history.commit({ useImages: true, imageWeights: s.imageStyles.map((i) => (i === known ? 1 : 0)) });
      return;
    }
    if (blob) library.remember(style, blob);
    notice.textContent = `Reading the style of “${style.name}”…`;
    preparing++;
    updateIdle();
    try {
      await library.vector(style);
      notice.textContent = '';
      const now = history.state;
      history.commit({ imageStyles: [...now.imageStyles, style], imageWeights: [...now.imageStyles.map(() => 0), 1], useImages: true });
    } catch (e) {
      notice.textContent = styleProblem(e);
    } finally {
      preparing--;
      updateIdle();
    }
  }

  async function addStyleWithDialog(): Promise<void> {
    const reply = await openDialog('files', 'images');
    if (reply === null) { notice.textContent = 'No file dialog here: use Style from file or drop a picture on the styles.'; return; }
    const chosen = reply.files[0];
    if (chosen) await addImageStyle({ id: crypto.randomUUID(), name: chosen.name, url: chosen.url });
  }

  function addStyleBlob(f: File): void {
    void addImageStyle({ id: crypto.randomUUID(), name: f.name, url: null }, f);
  }

  /** Image styles from the last session whose source can't be read any more leave the gallery
   *  (no undo step), with one sentence. */
  async function dropUnreadableStyles(): Promise<void> {
    const gone = (await Promise.all(history.state.imageStyles.map(async (s) => {
      const res = s.url ? await fetch(s.url).catch(() => null) : null;
      void res?.body?.cancel();      // only whether it can be read counts here
      return res?.ok ? null : s;
    }))).filter((s): s is ImageStyle => s !== null);
    if (!gone.length) return;
    history.amend(withoutImageStyles(history.state, new Set(gone.map((s) => s.id))));
    const names = gone.map((s) => `“${s.name}”`).join(', ');
    notice.textContent = `${names} ${gone.length === 1 ? 'is' : 'are'} no longer readable, so ${gone.length === 1 ? 'it left' : 'they left'} the styles; add ${gone.length === 1 ? 'it' : 'them'} again to use ${gone.length === 1 ? 'it' : 'them'}.`;
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
      const builtIn = renderer;
      await opened.run(renderer, () => shownStyle ?? { network: builtIn.builtIn, style: normalisedWeights(history.state.weights) }, (w, h) => preview.setSize(w, h),
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
    if (previewImage) { preview.setSize(previewImage.width, previewImage.height); void renderPhoto(history.state); }
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
      const state = history.state;
      const name = await exportStyled({
        style: await styleFor(state), sizeMultiple: renderer.info.sizeMultiple, photo,
        state, styleName: describeStyle(state, renderer.info.styleNames),
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
  addStyle.addEventListener('click', () => void addStyleWithDialog().catch((e) => { notice.textContent = errorText(e); }));
  styleFile.addEventListener('change', () => { if (styleFile.files?.[0]) addStyleBlob(styleFile.files[0]); styleFile.value = ''; });
  styles.addEventListener('dragover', (e) => e.preventDefault());
  styles.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    const f = e.dataTransfer?.files[0];
    if (f) addStyleBlob(f);
  });
  photoStyle.addEventListener('input', () => void renderPhoto({ ...history.state, photoStyle: Number(photoStyle.value) }));
  photoStyle.addEventListener('change', () => history.commit({ photoStyle: Number(photoStyle.value) }));
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
      commit: (weights) => history.commit(fromGallery(weights, history.state)),
      preview: (weights) => void renderPhoto({ ...history.state, ...fromGallery(weights, history.state) }),
      remove: (k) => {
        const s = history.state;
        history.commit(withoutImageStyles(s, new Set([s.imageStyles[k].id])));
      },
    });
    styles.append(gallery.root);
    setControlsEnabled(true);
    await dropUnreadableStyles();
    backendLine();       // last: the tests take it as the sign that the view is ready
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
