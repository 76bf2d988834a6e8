// The style networks behind the editor's preview, on the WebGPU engine, drawing straight into
// the preview canvas: multistyle26 (its 26 weights) and, loaded when first needed, the
// arbitrary-style transform (a style vector; its image input is NHWC, given as a tensor made
// from the preview image once). Requests made while a render runs are coalesced (only the
// newest waits), so dragging a slider never queues a backlog; compositing changes (strength,
// colours, split) only redraw the last output, without running a network.

import { EngineModel } from '../engine/engine';
import { redraw, setCompositing, type Compositing } from '../engine/canvas_output';
import { fetchStyleManifest } from '../stylize/network';
import { imageTensor } from '../stylize/tensors';

export const MULTISTYLE_URL = 'models/multistyle26/';
export const TRANSFORM_URL = 'models/arbitrary-transform/';

/** A network the preview can run: its style input's name and its image layout. */
export interface PreviewNetwork {
  readonly name: string;
  readonly model: EngineModel;
  readonly styleInput: string;
  readonly channelsLast: boolean;
}

/** The arbitrary-style transform on the engine (fp32 weights, as `tessera stylize` loads it). */
export async function openTransform(): Promise<PreviewNetwork> {
  const manifest = await fetchStyleManifest(TRANSFORM_URL);
  const model = await EngineModel.load(TRANSFORM_URL, { precision: 'fp32' });
  return { name: manifest.name, model, styleInput: manifest.inputs[1].name, channelsLast: true };
}

export interface StyleManifestInfo { styleNames: string[]; gallery: string[] | null; styleInput: string; sizeMultiple: number }

/** The style names, and each style's thumbnail when the package has a gallery. */
export async function readStyleInfo(url = MULTISTYLE_URL): Promise<StyleManifestInfo> {
  const res = await fetch(`${url}model.json`);
  if (!res.ok) throw new Error(`the style model is missing (HTTP ${res.status}); reinstall Tessera or run its set-up again`);
  const meta = (await res.json()) as {
    stylize?: { style_names?: string[]; style_input?: string; size_multiple?: number };
    gallery?: { style: string; file: string }[];     // rendered at set-up (docs/stylize.md)
  };
  const s = meta.stylize ?? {};
  const names = s.style_names ?? [];
  const files = new Map(meta.gallery?.map((g) => [g.style, `${url}${g.file}`]));
  return {
    styleNames: names,
    gallery: meta.gallery ? names.map((n) => files.get(n) ?? '') : null,
    styleInput: s.style_input ?? 'style_weights',
    sizeMultiple: s.size_multiple ?? 4,
  };
}

interface Request { image: ImageBitmap; network: PreviewNetwork; style: Float32Array }

/** An image as the NHWC tensor a channels-last network takes (white = 1). */
function nhwcTensor(image: ImageBitmap): Float32Array {
  const ctx = new OffscreenCanvas(image.width, image.height).getContext('2d')!;
  ctx.drawImage(image, 0, 0);
  return imageTensor(ctx.getImageData(0, 0, image.width, image.height), true, 1).data;
}

export class StyleRenderer {
  readonly builtIn: PreviewNetwork;
  private readonly tensors = new WeakMap<ImageBitmap, Float32Array>();
  private pending: Request | null = null;
  private redrawWanted = false;
  private running: Promise<void> | null = null;
  private compositing: Compositing = { original: null, strength: 1, preserveColours: false, split: 0 };
  /** Called after each draw with the error, if it failed. */
  onDrawn: (error: unknown) => void = () => {};

  private constructor(model: EngineModel, readonly info: StyleManifestInfo, private context: GPUCanvasContext) {
    this.builtIn = { name: 'multistyle26', model, styleInput: info.styleInput, channelsLast: false };
  }

  static async open(context: GPUCanvasContext): Promise<StyleRenderer> {
    const [info, model] = await Promise.all([readStyleInfo(), EngineModel.load(MULTISTYLE_URL)]);
    return new StyleRenderer(model, info, context);
  }

  /** Whether a render is running or waiting. */
  get busy(): boolean { return this.running !== null; }

  /** Stylise `image` (its size a multiple of the network's) with this style (multistyle26's
   *  weights, or the transform's style vector) into the canvas; the image also becomes the
   *  original the compositing shows. */
  render(image: ImageBitmap, style: Float32Array, network: PreviewNetwork = this.builtIn): void {
    this.pending = { image, network, style };
    this.running ??= this.drain();
  }

  /** New strength / colours / split: redraws the last output only. */
  composite(change: Omit<Compositing, 'original'>): void {
    this.compositing = { ...this.compositing, ...change };
    setCompositing(this.context, this.compositing);
    this.redrawWanted = true;
    this.running ??= this.drain();
  }

  /** Resolves once nothing is running or waiting. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending || this.redrawWanted) {
        const request = this.pending;
        this.pending = null;
        this.redrawWanted = false;
        try {
          if (request) {
            const { image, network, style } = request;
            this.compositing = { ...this.compositing, original: image };
            setCompositing(this.context, this.compositing);
            const others = { [network.styleInput]: style };
            if (network.channelsLast) {
              let tensor = this.tensors.get(image);
              if (!tensor) this.tensors.set(image, tensor = nhwcTensor(image));
              await network.model.renderToCanvas(tensor, this.context, { shape: [1, image.height, image.width, 3], others });
            } else {
              await network.model.renderToCanvas(image, this.context, { others });
            }
          } else {
            await redraw(this.context);
          }
          this.onDrawn(null);
        } catch (e) {
          this.onDrawn(e);
        }
      }
    } finally {
      this.running = null;
    }
  }

  dispose(): Promise<void> {
    return this.builtIn.model.dispose();
  }
}
