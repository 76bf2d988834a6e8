// The engine test page (mode=engine-test): the engine on window, for the browser tests
// (tests/test_engine_*.py) to drive with page.evaluate. Not used by the app.

import type { BackendName } from './adapter';
import { openClassifier, type Classifier } from './classifier';
import { liveDevices } from './device';
import { EngineModel, UnsupportedOpError, WeightsTooLargeError, type NormStats } from './engine';
import { fetchManifest } from './loader';
import type { Precision } from './manifest';
import { loadModelMeta } from './model';
import { planCall } from './planner';
import type { Int8Matrices } from './kernels/common';
import { decodeImage, type ImageSource } from './preprocess';
import { renderTiled, type TiledRenderOptions } from './tiled_render';
import { checkWeightsFit } from './weights';

const models = new Map<number, EngineModel>();
const classifiers = new Map<number, Classifier>();
let nextId = 1;

/** An RGBA image sent by a test, and the kind of source to hand the engine. */
interface TestImage { width: number; height: number; rgba: string; kind: 'bitmap' | 'canvas' | 'videoframe' }

async function toSource(image: TestImage): Promise<ImageSource> {
  const data = new ImageData(new Uint8ClampedArray(fromBase64(image.rgba).buffer), image.width, image.height);
  if (image.kind === 'canvas') {
    const canvas = new OffscreenCanvas(image.width, image.height);
    canvas.getContext('2d')!.putImageData(data, 0, 0);
    return canvas;
  }
  const bitmap = await createImageBitmap(data, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  return image.kind === 'videoframe' ? new VideoFrame(bitmap, { timestamp: 0 }) : bitmap;
}

/** The part of GPUCanvasContext the engine uses, over a texture that can be read back. */
class TextureContext {
  private config: GPUCanvasConfiguration | null = null;
  private texture: GPUTexture | null = null;
  constructor(private readonly width: number, private readonly height: number) {}

  configure(config: GPUCanvasConfiguration): void {
    this.config = config;
    this.texture = config.device.createTexture({ size: [this.width, this.height], format: config.format,
      usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC });
  }

  getCurrentTexture(): GPUTexture { return this.texture!; }

  /** RGBA bytes, row by row. */
  async read(): Promise<Uint8Array> {
    const { device, format } = this.config!;
    const bytesPerRow = Math.ceil(this.width * 4 / 256) * 256;
    const buffer = device.createBuffer({ size: bytesPerRow * this.height, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyTextureToBuffer({ texture: this.texture! }, { buffer, bytesPerRow }, [this.width, this.height]);
    device.queue.submit([enc.finish()]);
    await buffer.mapAsync(GPUMapMode.READ);
    const rows = new Uint8Array(buffer.getMappedRange());
    const out = new Uint8Array(this.width * this.height * 4);
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        const p = rows.subarray(y * bytesPerRow + x * 4, y * bytesPerRow + x * 4 + 4);
        out.set(format === 'bgra8unorm' ? [p[2], p[1], p[0], p[3]] : p, (y * this.width + x) * 4);
      }
    }
    buffer.destroy();
    return out;
  }
}

// Tensors and pixels cross between the tests and this page as base64 of their little-endian
// bytes: Playwright's JSON number arrays cost seconds per few hundred thousand numbers.
type Base64 = string;

function fromBase64(b64: Base64): Uint8Array<ArrayBuffer> {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function toBase64(data: ArrayBufferView): Base64 {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const CHUNK = 0x8000;     // String.fromCharCode's argument count stays well within limits
  let text = '';
  for (let i = 0; i < bytes.length; i += CHUNK) text += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(text);
}

const tensor = (b64: Base64) => new Float32Array(fromBase64(b64).buffer);
const tensors = (o: Record<string, Base64>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, tensor(v)]));

const hooks = {
  /** Every call of the model validated in an error scope unless `validateEveryCall` is false
   *  (then only the first calls of each kind are, as in the app); `subgroups: false` keeps
   *  the kernels off subgroup operations; `int8` as EngineOptions.int8. */
  async load(url: string, precision: Precision, validateEveryCall = true, subgroups = true,
    largeConvTiles = false, splitKInWorkgroup?: boolean, int8?: 'auto' | 'off' | 'emulated' | 'matrix'): Promise<number> {
    const model = await EngineModel.load(new URL(url, document.baseURI).href,
      { precision, validateEveryCall, subgroups, largeConvTiles, splitKInWorkgroup, int8 });
    models.set(nextId, model);
    return nextId++;
  },
  /** As load; the engine refusing the model (UnsupportedOpError) is returned, not thrown. */
  async loadOrRefusal(url: string, precision: Precision): Promise<{ id: number } | { refused: string }> {
    try {
      return { id: await hooks.load(url, precision) };
    } catch (e) {
      if (e instanceof UnsupportedOpError) return { refused: e.message };
      throw e;
    }
  },
  /** What loading the package at `url` says on a GPU allowing `limit` bytes per buffer: the
   *  refusal's message, or null when its weights fit. */
  async weightsFit(url: string, precision: Precision, limit: number): Promise<string | null> {
    const manifest = await fetchManifest(new URL(url, document.baseURI).href);
    try {
      checkWeightsFit(manifest, precision, { maxBufferSize: limit, maxStorageBufferBindingSize: limit } as GPUSupportedLimits);
      return null;
    } catch (e) {
      return e instanceof WeightsTooLargeError ? e.message : `unexpected: ${e}`;
    }
  },
  /** Runs with every buffer poisoned first; returns the output in logical order. */
  async run(id: number, input: Base64, shape: number[], others: Record<string, Base64> = {}): Promise<Base64> {
    const model = models.get(id)!;
    await model.poison(shape);
    return toBase64(await model.run(tensor(input), shape, tensors(others)));
  },
  /** As run, every output (in manifest order). */
  async runAll(id: number, input: Base64, shape: number[], others: Record<string, Base64> = {}): Promise<Base64[]> {
    const model = models.get(id)!;
    await model.poison(shape);
    return (await model.runAll(tensor(input), shape, tensors(others))).map(toBase64);
  },
  async topK(id: number, input: Base64, shape: number[], k: number) {
    const model = models.get(id)!;
    await model.poison(shape);
    return model.topK(tensor(input), shape, k);
  },
  /** The images as one call's batch (buffers poisoned first); the output in logical order. */
  async runImages(id: number, images: TestImage[]): Promise<Base64> {
    const model = models.get(id)!;
    const sources = await Promise.all(images.map(toSource));
    await model.poison(model.imageShape(sources));
    return toBase64(await model.runImages(sources));
  },
  /** One topK call per input, all issued before any result is awaited. */
  async topKPipelined(id: number, inputs: Base64[], shape: number[], k: number) {
    const model = models.get(id)!;
    await model.poison(shape);
    return Promise.all(inputs.map((x) => model.topK(tensor(x), shape, k)));
  },
  /** Each photo (a URL) decoded as the app does and classified through the GPU image path. */
  async topKPhotos(id: number, urls: string[], k: number) {
    const model = models.get(id)!;
    const out = [];
    for (const url of urls) {
      const bitmap = await decodeImage(await (await fetch(url)).blob());
      out.push((await model.topKFromImages([bitmap], k))[0]);
      bitmap.close();
    }
    return out;
  },
  /** Draws the output for a tensor input into a canvas context of the output's size and
   *  returns its pixels (RGBA) beside the read-back output. The context is a stand-in whose
   *  current texture is a plain texture read back here: Chromium on SwiftShader loses the
   *  device on any draw into a real WebGPU canvas. */
  async renderAndRun(id: number, input: Base64, shape: number[], others: Record<string, Base64> = {}) {
    const model = models.get(id)!;
    const [height, width] = shape[3] === 3 ? shape.slice(1, 3) : shape.slice(2);    // NHWC or NCHW
    const context = new TextureContext(width, height);
    await model.poison(shape);
    await model.renderToCanvas(tensor(input), context as unknown as GPUCanvasContext, { shape, others: tensors(others) });
    const pixels = toBase64(await context.read());
    const output = toBase64(await model.run(tensor(input), shape, tensors(others)));
    return { pixels, output };
  },
  /** A tiled render (tiled_render.ts) of the image: its RGBA pixels, grid and progress steps,
   *  or the error's name and message. `abortAfter`: abort once that many steps are done. */
  async renderTiled(id: number, image: TestImage, options: Omit<TiledRenderOptions, 'others'> & {
    others?: Record<string, Base64>; abortAfter?: number }) {
    const controller = new AbortController();
    const progress: number[] = [];
    try {
      const out = await renderTiled(models.get(id)!, await toSource(image), { ...options, others: tensors(options.others ?? {}),
        signal: controller.signal, onProgress: ({ done, total }) => {
          progress.push(done, total);
          if (done === options.abortAfter) controller.abort();
        } });
      const pixels = toBase64(await out.pixels());
      out.destroy();
      return { pixels, grid: out.grid, progress };
    } catch (e) {
      return { error: (e as Error).name, message: (e as Error).message, progress };
    }
  },
  /** The tensor run whole with its own statistics, and with those captured from `statsInput`
   *  (shape `statsShape`) supplied; plus both sets of statistics. */
  async runWithCapturedStats(id: number, input: Base64, shape: number[], statsInput: Base64, statsShape: number[],
    others: Record<string, Base64> = {}) {
    const model = models.get(id)!;
    const own = await model.captureNormStats(tensor(input), shape, tensors(others));
    const captured = await model.captureNormStats(tensor(statsInput), statsShape, tensors(others));
    await model.poison(shape);
    await model.poison(shape, 'supply');
    const whole = toBase64(await model.run(tensor(input), shape, tensors(others)));
    const supplied = toBase64(await model.runWithNormStats(captured, tensor(input), shape, tensors(others)));
    const list = async (stats: NormStats) => Object.fromEntries(Object.entries(await stats.read()).map(([k, v]) => [k, toBase64(v)]));
    const result = { whole, supplied, own: await list(own), captured: await list(captured) };
    own.destroy();
    captured.destroy();
    return result;
  },
  /** The dispatches a package's call for `shape` would encode (labels, and each one's WGSL) and
   *  how many distinct sources they use, planned against this browser's adapter limits; nothing
   *  is loaded. */
  async plan(url: string, shape: number[], int8?: Int8Matrices): Promise<{ labels: string[]; sources: number; kernels: { label: string; source: string }[] }> {
    const manifest = await fetchManifest(new URL(url, document.baseURI).href);
    const adapter = await navigator.gpu.requestAdapter();
    const { dispatches } = planCall(manifest, shape, 'fp16', adapter!.limits, undefined, { int8 });
    return { labels: dispatches.map((d) => d.label), sources: new Set(dispatches.map((d) => d.source)).size,
      kernels: dispatches.map(({ label, source }) => ({ label, source })) };
  },
  /** The subgroup sizes the model's kernels use (null: none), every kernel it compiled (or tried
   *  to), and why its int8 kernels were given up, if they were. */
  kernels(id: number) {
    const model = models.get(id)!;
    return { subgroups: model.subgroups, kernels: model.kernels, int8Refusal: model.int8Refusal };
  },
  async dispose(id: number): Promise<void> {
    await models.get(id)?.dispose();
    models.delete(id);
  },

  /** The app's classifier for a model folder (model.json), under `auto` preferring webgpu. */
  async openClassifier(url: string, preferred: BackendName = 'webgpu'): Promise<{ id: number; backend: string }> {
    const { classifier } = await openClassifier(await loadModelMeta(new URL(url, document.baseURI).href), 'auto', preferred);
    classifiers.set(nextId, classifier);
    return { id: nextId++, backend: classifier.backend };
  },
  async classify(id: number, image: TestImage, k: number) {
    const classifier = classifiers.get(id)!;
    const top = await classifier.classify(await toSource(image), k);
    return { top, backend: classifier.backend, note: classifier.note ?? null };
  },
  async disposeClassifier(id: number): Promise<void> {
    await classifiers.get(id)?.dispose();
    classifiers.delete(id);
  },

  /** Destroys every engine device, as a driver reset would, and waits until each is lost. */
  async loseDevices(): Promise<number> {
    const devices = [...liveDevices];
    for (const d of devices) d.destroy();
    await Promise.all(devices.map((d) => d.lost));
    return devices.length;
  },
  /** An invalid WebGPU call on every engine device, outside any error scope (as a stray bug
   *  would make). Its uncaptured error is delivered while the device works on: during the
   *  next call at the latest. */
  uncapturedError(): number {
    for (const d of liveDevices) {
      d.createBuffer({ label: 'invalid on purpose', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    }
    return liveDevices.size;
  },
};

export function installEngineTestHooks(): void {
  (window as unknown as { tesseraEngine: typeof hooks }).tesseraEngine = hooks;
  document.body.dataset.engineTest = 'ready';
}
