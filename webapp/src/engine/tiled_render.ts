// Full-resolution render of an image-to-image model (the style networks) in tiles, for images
// too large to run whole. API first; the implementation follows (docs/engine.md, "Tiled
// render").

import type { EngineModel } from './engine';
import type { BufferLimits } from './planner';
import type { ImageSource } from './preprocess';

export interface TiledRenderProgress {
  /** Tiles rendered so far (the statistics pass counts as the first step). */
  done: number;
  total: number;
}

export interface TiledRenderOptions {
  /** Inputs after the first, by name: multistyle26's `style_weights` [26], the arbitrary
   *  transform's style vector [1, 100, 1, 1]. */
  others?: Record<string, Float32Array>;
  /** Called after the statistics pass and after each tile. */
  onProgress?: (p: TiledRenderProgress) => void;
  /** Aborting stops the render between tiles: renderTiled rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Largest tile side in pixels (rounded down to a multiple of 4); default: the largest that
   *  fits the GPU's limits and `memoryBudget`. */
  maxTileSize?: number;
  /** Pixels two neighbouring tiles share (default: DEFAULT_OVERLAP). */
  overlap?: number;
  /** Bytes of GPU memory one pass of the model (activations and scratch) may take. */
  memoryBudget?: number;
  /** Buffer limits to plan against instead of the device's (tests force a refusal with it). */
  limits?: BufferLimits;
}

/** The assembled full-resolution output, held on the GPU as RGBA8 (one u32 per pixel). */
export interface TiledImage {
  readonly width: number;
  readonly height: number;
  /** Tiles across and down, and their side in pixels. */
  readonly grid: { columns: number; rows: number; tileWidth: number; tileHeight: number };
  /** The GPU buffer holding the pixels (row by row, RGBA8 packed into u32, no row padding). */
  readonly buffer: GPUBuffer;
  /** RGBA bytes, row by row (export). */
  pixels(): Promise<Uint8ClampedArray>;
  /** Draws the image into a 2D canvas (resized to the image). */
  drawTo(canvas: HTMLCanvasElement | OffscreenCanvas): Promise<void>;
  /** Frees the GPU buffer. */
  destroy(): void;
}

/** The image can't be rendered on this GPU: the message says why, in one sentence. */
export class TiledRenderRefused extends Error {}

/** Renders `source` at its full resolution through `model` in overlapping tiles whose
 *  instance-norm statistics are the whole image's; see docs/engine.md. */
export async function renderTiled(model: EngineModel, source: ImageSource,
  options: TiledRenderOptions = {}): Promise<TiledImage> {
  throw new Error(`renderTiled(${model.manifest.name}, ${String(source)}, ${Object.keys(options)}) is not built yet`);
}
