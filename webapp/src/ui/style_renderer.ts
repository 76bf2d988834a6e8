// The style network behind the editor's preview: multistyle26 on the WebGPU engine, drawing
// straight into the preview canvas. Requests made while a render runs are coalesced (only the
// newest waits), so dragging a slider never queues a backlog; compositing changes (strength,
// colours, split) only redraw the last output, without running the network.

import { EngineModel } from '../engine/engine';
import { redraw, setCompositing, type Compositing } from '../engine/canvas_output';
import type { ImageSource } from '../engine/preprocess';

export const MULTISTYLE_URL = 'models/multistyle26/';

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

interface Request { image: ImageSource; weights: Float32Array }

export class StyleRenderer {
  private pending: Request | null = null;
  private redrawWanted = false;
  private running: Promise<void> | null = null;
  private compositing: Compositing = { original: null, strength: 1, preserveColours: false, split: 0 };
  /** Called after each draw with the error, if it failed. */
  onDrawn: (error: unknown) => void = () => {};

  private constructor(readonly model: EngineModel, readonly info: StyleManifestInfo, private context: GPUCanvasContext) {}

  static async open(context: GPUCanvasContext): Promise<StyleRenderer> {
    const [info, model] = await Promise.all([readStyleInfo(), EngineModel.load(MULTISTYLE_URL)]);
    return new StyleRenderer(model, info, context);
  }

  /** Whether a render is running or waiting. */
  get busy(): boolean { return this.running !== null; }

  /** Stylise `image` (its size a multiple of the network's) with these weights into the canvas;
   *  the image also becomes the original the compositing shows. */
  render(image: ImageSource, weights: Float32Array): void {
    this.pending = { image, weights };
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
            this.compositing = { ...this.compositing, original: request.image as GPUCopyExternalImageSource };
            setCompositing(this.context, this.compositing);
            await this.model.renderToCanvas(request.image, this.context, { others: { [this.info.styleInput]: request.weights } });
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
    return this.model.dispose();
  }
}
