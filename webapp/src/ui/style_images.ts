// Image styles for the editor: the arbitrary-style predictor turns a style image into a style
// vector (on Tessera's engine, or on onnxruntime-web's wasm where `auto` says so); the library
// keeps each added image's bytes (dropped files, this session), its thumbnail and its vector,
// and blends vectors for the transform: Σ wᵢ·vᵢ over the mix (weights normalised), then
// (1 − p)·that + p·the photo's own vector (Magenta's interpolation with the content's style).

import { chooseBackend, type AdapterReport, type BackendName } from '../engine/adapter';
import { UnsupportedOpError } from '../engine/engine';
import { decodeImage } from '../engine/preprocess';
import { openStyleNetwork, type StyleNetwork } from '../stylize/network';
import { imageTensor } from '../stylize/tensors';
import { errorText } from './dom';
import { normalisedWeights, type ImageStyle } from './style_state';

export const PREDICTOR_URL = 'models/arbitrary-predict/';
const STYLE_SIDE = 256;       // the predictor's input (docs/stylize.md)

/** The predictor and the backend it runs on, with why when that is wasm. */
export class StylePredictor {
  private constructor(private readonly network: StyleNetwork, readonly why: string | null) {}

  get backend(): BackendName { return this.network.backend; }

  static async open(adapter: AdapterReport): Promise<StylePredictor> {
    const backend = chooseBackend('auto', adapter);
    if (backend === 'wasm') {
      const why = adapter.adapter ? 'the only GPU here is a software one, slower than WebAssembly for this'
        : 'this window has no WebGPU adapter';
      return new StylePredictor(await openStyleNetwork(PREDICTOR_URL, 'wasm'), why);
    }
    try {
      return new StylePredictor(await openStyleNetwork(PREDICTOR_URL, 'webgpu'), null);
    } catch (e) {
      if (!(e instanceof UnsupportedOpError)) throw e;
      return new StylePredictor(await openStyleNetwork(PREDICTOR_URL, 'wasm'),
        `the WebGPU engine can't run the style predictor (${errorText(e)})`);
    }
  }

  /** The style vector of an image's centre square, resized to the predictor's 256×256. */
  async vector(image: ImageBitmap): Promise<Float32Array> {
    const side = Math.min(image.width, image.height);
    const size = STYLE_SIDE;
    const square = await createImageBitmap(image, (image.width - side) >> 1, (image.height - side) >> 1, side, side,
      side === size ? {} : { resizeWidth: size, resizeHeight: size, resizeQuality: 'high' });
    const ctx = new OffscreenCanvas(size, size).getContext('2d')!;
    ctx.drawImage(square, 0, 0);
    square.close();
    const input = imageTensor(ctx.getImageData(0, 0, size, size), true, this.network.manifest.pixel_range ?? 1);
    return this.network.run(input.data, input.dims);
  }
}

/** An image style's bytes could not be read or decoded: the message is one sentence. */
export class StyleImageError extends Error {}

/** The style images' thumbnails and vectors, by id; dropped files' bytes for this session. */
export class StyleImageLibrary {
  private readonly blobs = new Map<string, Blob>();
  private readonly thumbnails = new Map<string, string>();
  private readonly vectors = new Map<string, Promise<Float32Array>>();

  constructor(readonly predictor: () => Promise<StylePredictor>) {}

  /** Keeps a dropped or picked file's bytes (it has no URL to fetch again). */
  remember(style: ImageStyle, blob: Blob): void {
    this.blobs.set(style.id, blob);
    this.thumbnails.set(style.id, URL.createObjectURL(blob));
  }

  thumbnail(style: ImageStyle): string {
    return this.thumbnails.get(style.id) ?? style.url ?? '';
  }

  /** The style's vector (predicted once); rejects with a StyleImageError saying why not. */
  vector(style: ImageStyle): Promise<Float32Array> {
    let v = this.vectors.get(style.id);
    if (!v) {
      v = this.predict(style);
      v.catch(() => this.vectors.delete(style.id));     // a later try may succeed (a new grant)
      this.vectors.set(style.id, v);
    }
    return v;
  }

  private async predict(style: ImageStyle): Promise<Float32Array> {
    const image = await this.decode(style);
    try {
      return await (await this.predictor()).vector(image);
    } finally {
      image.close();
    }
  }

  private async decode(style: ImageStyle): Promise<ImageBitmap> {
    let blob = this.blobs.get(style.id);
    if (!blob) {
      if (!style.url) throw new StyleImageError(`The style image “${style.name}” was dropped into the window in an earlier session; add it again.`);
      const res = await fetch(style.url).catch(() => null);
      if (!res?.ok) throw new StyleImageError(`The style image “${style.name}” is no longer readable; add it again.`);
      blob = await res.blob();
    }
    try {
      return await decodeImage(blob);
    } catch {
      throw new StyleImageError(`“${style.name}” can't be used as a style: it is not an image this browser can read.`);
    }
  }

  /** Σ wᵢ·vᵢ over the styles (weights normalised), then mixed with `own` (the photo's vector)
   *  by `photoStyle`. */
  async blend(styles: ImageStyle[], weights: number[], own: Float32Array | null, photoStyle: number): Promise<Float32Array> {
    const w = normalisedWeights(weights);
    let out: Float32Array | null = null;
    for (const [i, style] of styles.entries()) {
      if (!(w[i] > 0)) continue;
      const v = await this.vector(style);
      out ??= new Float32Array(v.length);
      for (let k = 0; k < v.length; k++) out[k] += w[i] * v[k];
    }
    if (!out) throw new StyleImageError('No image style is in the mix.');
    if (own && photoStyle > 0) for (let k = 0; k < out.length; k++) out[k] = (1 - photoStyle) * out[k] + photoStyle * own[k];
    return out;
  }
}
