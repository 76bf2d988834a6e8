// Full-resolution render of an image-to-image model (the style networks) in tiles, for images
// too large to run whole (docs/engine.md, "Tiled render"):
//   1. the source is copied once into a texture;
//   2. a statistics pass runs the model on the whole image, downscaled only as far as needed
//      to fit, and keeps every instance norm's mean and variance (planner NormStatsMode);
//   3. each tile (all the same size, so one plan) is cut from the texture into the model's
//      input, run with those statistics supplied, and blended into the full-resolution RGBA8
//      image (kernels/tile_blend.ts), in one compute pass and one submit per tile.

import type { EngineModel } from './engine';
import { grid, type PreparedCall } from './executor';
import type { IoSpec } from './manifest';
import { NormStats } from './norm_stats';
import type { KernelDispatch } from './kernels/common';
import { imageInputKernel, imageInputParams, IMAGE_INPUT_PARAM_BYTES } from './kernels/image_input';
import { tileBlendKernel, tileBlendParams, TILE_BLEND_PARAM_BYTES, type TileSeams } from './kernels/tile_blend';
import { planCall, type BufferLimits, type Plan } from './planner';
import { imageSize, type ImageSource } from './preprocess';

/** Pixels neighbouring tiles share by default: a third of it on each side is margin, where a
 *  tile's own edge shows (multistyle26: errors from ~56 px in, measured in docs/engine.md),
 *  the middle third the blend ramp. */
export const DEFAULT_OVERLAP = 96;
/** GPU memory one pass of the model may take by default. */
export const DEFAULT_MEMORY_BUDGET = 512 * 2 ** 20;
const LARGEST_TILE = 2048;

export interface TiledRenderProgress {
  /** Tiles rendered so far (the statistics pass, when there is one, counts as the first step). */
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
  pixels(): Promise<Uint8ClampedArray<ArrayBuffer>>;
  /** Draws the image into a 2D canvas (resized to the image). */
  drawTo(canvas: HTMLCanvasElement | OffscreenCanvas): Promise<void>;
  /** Frees the GPU buffer. */
  destroy(): void;
}

/** The image can't be rendered on this GPU: the message says why, in one sentence. */
export class TiledRenderRefused extends Error {
  override name = 'TiledRenderRefused';
}

/** Renders `source` at its full resolution through `model` in overlapping tiles whose
 *  instance-norm statistics are the whole image's; see docs/engine.md. */
export async function renderTiled(model: EngineModel, source: ImageSource,
  options: TiledRenderOptions = {}): Promise<TiledImage> {
  const { width, height } = imageSize(source);
  const { device, manifest } = model;
  const limits = options.limits ?? device.limits;
  const overlap = options.overlap ?? DEFAULT_OVERLAP;
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const refuse = (why: string) => new TiledRenderRefused(`${manifest.title || manifest.name} can't render this `
    + `${width}×${height} image on this GPU: ${why}.`);
  const inputLayout = rgbLayout(manifest.inputs[0]);
  const outputLayout = rgbLayout(manifest.outputs[0]);
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (width * height * 4 > perBuffer) throw refuse(`the result needs ${mib(width * height * 4)} and it holds at most ${mib(perBuffer)} per buffer`);
  const maxSide = device.limits.maxTextureDimension2D;
  if (Math.max(width, height) > maxSide) throw refuse(`it takes images up to ${maxSide} pixels on a side`);
  if (Math.min(width, height) < 4) throw refuse('it needs at least 4 pixels on a side');

  const fits = (h: number, w: number) => fitsPlan(model, inputLayout.shape(h, w), limits, budget);
  const tile = chooseTile(width, height, options.maxTileSize ?? LARGEST_TILE, 2 * overlap + 8, fits);
  if (typeof tile === 'string') throw refuse(`even a ${tile}`);
  const stats = statsSize(width, height, fits);

  const columns = axisTiles(width, tile.width, overlap);
  const rows = axisTiles(height, tile.height, overlap);
  // A picture that is one tile of its own size runs once with its own statistics: the same
  // result without a statistics pass (and, for a preview-sized picture, the preview's plan).
  const onePass = columns.length === 1 && rows.length === 1 && tile.width === width && tile.height === height;
  const total = columns.length * rows.length + (onePass ? 0 : 1);
  const step = (done: number) => options.onProgress?.({ done, total });
  const signal = options.signal;
  signal?.throwIfAborted();

  const texture = device.createTexture({ label: 'tiled render source', size: [width, height], format: 'rgba8unorm',
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.RENDER_ATTACHMENT });
  const inputParams = device.createBuffer({ label: 'tile input params', size: IMAGE_INPUT_PARAM_BYTES,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const blendParams = device.createBuffer({ label: 'tile blend params', size: TILE_BLEND_PARAM_BYTES,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const image = device.createBuffer({ label: 'tiled render image', size: width * height * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  let normStats: NormStats | null = null;
  try {
    device.queue.copyExternalImageToTexture({ source }, { texture, premultipliedAlpha: false }, [width, height]);
    const others = options.others ?? {};
    const whole = { x: 0, y: 0, width, height };

    if (!onePass) {
      // The statistics pass: the whole image, resampled to `stats` (antialiased when smaller).
      const statsShape = inputLayout.shape(stats.height, stats.width);
      const statsInput = await imageInputStep(model, inputLayout, stats, texture, inputParams);
      device.queue.writeBuffer(inputParams, 0, imageInputParams(whole, stats, 0));
      await model.runEncoded(statsShape, 'capture', { data: null, others }, (call) => {
        const captured = NormStats.forCapture(device, call);
        normStats = captured.stats;
        return { first: statsInput(call), after: captured.copyOut };
      });
      await model.release(statsShape, 'capture');
      await device.queue.onSubmittedWorkDone();
      step(1);
    }

    const tileShape = inputLayout.shape(tile.height, tile.width);
    const tileInput = await imageInputStep(model, inputLayout, tile, texture, inputParams);
    const blend = await blendStep(model, outputLayout, tile, overlap, blendParams, image);
    let done = onePass ? 0 : 1;
    for (const [r, y] of rows.entries()) {
      for (const [c, x] of columns.entries()) {
        signal?.throwIfAborted();
        device.queue.writeBuffer(inputParams, 0, imageInputParams({ x, y, ...tile }, tile, 0));
        device.queue.writeBuffer(blendParams, 0, tileBlendParams({ x, y }, width,
          tileSeams(columns, rows, c, r, tile)));
        await model.runEncoded(tileShape, onePass ? undefined : 'supply', { data: null, others }, (call) => (
          { before: normStats?.copyInto(call), first: tileInput(call), last: blend(call) }));
        await device.queue.onSubmittedWorkDone();
        step(++done);
      }
    }
    return new GpuTiledImage(device, image, width, height,
      { columns: columns.length, rows: rows.length, tileWidth: tile.width, tileHeight: tile.height });
  } catch (e) {
    image.destroy();
    throw e;
  } finally {
    (normStats as NormStats | null)?.destroy();
    texture.destroy();
    inputParams.destroy();
    blendParams.destroy();
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const floor4 = (n: number) => Math.floor(n / 4) * 4;
type Size = { width: number; height: number };

/** Where an RGB image tensor's channel, row and column axes lie in its physical layout. */
interface RgbLayout {
  /** Physical offsets of one step along n, c, h, w. */
  strides(height: number, width: number): [number, number, number, number];
  /** The logical shape of one image of this size. */
  shape(height: number, width: number): number[];
}

function rgbLayout(spec: IoSpec): RgbLayout {
  const channelAxis = spec.shape.length === 4 ? [1, 3].find((a) => spec.shape[a] === 3) : undefined;
  if (channelAxis === undefined) throw new TiledRenderRefused(`${spec.name} is not an RGB image ([${spec.shape}]), so it can't be tiled`);
  const shape = (h: number, w: number) => (channelAxis === 1 ? [1, 3, h, w] : [1, h, w, 3]);
  const axes = channelAxis === 1 ? [0, 1, 2, 3] : [0, 3, 1, 2];       // logical axis of n, c, h, w
  return {
    shape,
    strides(h, w) {
      const physical = spec.perm.map((p) => shape(h, w)[p]);
      const physicalStrides = physical.map((_, i) => physical.slice(i + 1).reduce((a, b) => a * b, 1));
      return axes.map((axis) => physicalStrides[spec.perm.indexOf(axis)]) as [number, number, number, number];
    },
  };
}

/** Whether one pass at `shape` (statistics supplied) fits the buffer limits and the budget. */
function fitsPlan(model: EngineModel, shape: number[], limits: BufferLimits, budget: number): string | null {
  let plan: Plan;
  try {
    plan = planCall(model.manifest, shape, model.precision, limits, 'supply');
  } catch (e) {
    const message = (e as Error).message;
    const limit = /needs (.*?); this GPU allows (.*?) per buffer/.exec(message);
    return limit ? `needs ${limit[1]} and it allows ${limit[2]} per buffer` : message;
  }
  const bytes = [...plan.bufferBytes, ...plan.scratchBytes.values()].reduce((a, b) => a + b, 0);
  return bytes > budget ? `needs ${mib(bytes)} of GPU memory, over the ${mib(budget)} budget` : null;
}

/** The largest tile (sides multiples of 4, at most the image's) that fits, trying sides from
 *  `largest` down to `smallest`; or, when none does, why the smallest doesn't. */
function chooseTile(width: number, height: number, largest: number, smallest: number,
  fits: (h: number, w: number) => string | null): Size | string {
  const minSide = floor4(smallest + 3);
  for (let side = floor4(largest); ; side = floor4(side * 0.8)) {
    side = Math.max(side, minSide);
    const tile = { width: Math.min(side, floor4(width)), height: Math.min(side, floor4(height)) };
    const failure = fits(tile.height, tile.width);
    if (!failure) return tile;
    if (side <= minSide) return `${tile.width}×${tile.height} tile ${failure}`;
  }
}

/** The statistics pass's size: the whole image, scaled down (aspect kept) until it fits. */
function statsSize(width: number, height: number, fits: (h: number, w: number) => string | null): Size {
  for (let scale = 1; ; scale *= 0.8) {
    const size = { width: Math.max(4, floor4(width * scale)), height: Math.max(4, floor4(height * scale)) };
    if (!fits(size.height, size.width) || (size.width === 4 && size.height === 4)) return size;
  }
}

/** Tile starts along an axis: every `tile − overlap` pixels, the last one flush with the end,
 *  so neighbours share at least `overlap` pixels and all tiles have the same size. */
export function axisTiles(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];     // one tile: no step to take (and overlap may exceed it)
  const count = 1 + Math.max(0, Math.ceil((length - tile) / (tile - overlap)));
  return Array.from({ length: count }, (_, i) => (i === count - 1 ? length - tile : i * (tile - overlap)));
}

/** The middles of a tile's overlaps with its neighbours, in image pixels. */
function tileSeams(columns: number[], rows: number[], c: number, r: number, tile: Size): TileSeams {
  const seam = (starts: number[], i: number, side: number) => (i < 0 || i + 1 >= starts.length ? null
    : (starts[i + 1] + starts[i] + side) / 2);
  return { left: seam(columns, c - 1, tile.width), right: seam(columns, c, tile.width),
    top: seam(rows, r - 1, tile.height), bottom: seam(rows, r, tile.height) };
}

/** The dispatch cutting the parameters' box of `texture` into a call's input, resampled to
 *  `size` (exact when the box is `size`). */
async function imageInputStep(model: EngineModel, layout: RgbLayout, size: Size, texture: GPUTexture,
  params: GPUBuffer): Promise<(call: PreparedCall) => (pass: GPUComputePassEncoder) => void> {
  const kernel = imageInputKernel({ height: size.height, width: size.width, strides: layout.strides(size.height, size.width),
    mean: [0, 0, 0], std: new Array(3).fill(255 / (model.manifest.pixel_range ?? 1)) });
  return dispatchStep(model, kernel, (call) => [texture.createView(), { buffer: params }, { buffer: call.inputBuffer }]);
}

/** The dispatch blending a call's output (a tile) into `image`. */
async function blendStep(model: EngineModel, layout: RgbLayout, tile: Size, overlap: number, params: GPUBuffer,
  image: GPUBuffer): Promise<(call: PreparedCall) => (pass: GPUComputePassEncoder) => void> {
  const [, sc, sh, sw] = layout.strides(tile.height, tile.width);
  const pixelRange = model.manifest.pixel_range;
  if (!pixelRange) throw new TiledRenderRefused(`${model.manifest.name} has no pixel_range: the value of white in its output is unknown`);
  const kernel = tileBlendKernel({ ...tile, strides: [sc, sh, sw], pixelRange, band: overlap / 3 });
  const output = model.manifest.outputs[0];
  const expected = output.perm.map((p) => layout.shape(tile.height, tile.width)[p]).join();
  return dispatchStep(model, kernel, (call) => {
    const actual = call.plan.shapes.get(output.name)!.join();
    if (actual !== expected) throw new TiledRenderRefused(`${model.manifest.name}'s output [${actual}] is not its input's size`);
    return [{ buffer: call.outputBuffer }, { buffer: params }, { buffer: image }];
  });
}

/** A kernel of our own bound to a call's buffers (bind group made once per call). */
async function dispatchStep(model: EngineModel, kernel: KernelDispatch,
  resources: (call: PreparedCall) => GPUBindingResource[]) {
  const pipeline = await model.pipeline(kernel);
  const groups = new WeakMap<PreparedCall, GPUBindGroup>();
  const [x, y] = grid(kernel.workgroups);
  return (call: PreparedCall) => {
    let group = groups.get(call);
    if (!group) {
      group = model.device.createBindGroup({ label: kernel.label, layout: pipeline.getBindGroupLayout(0),
        entries: resources(call).map((resource, binding) => ({ binding, resource })) });
      groups.set(call, group);
    }
    const bindGroup = group;
    return (pass: GPUComputePassEncoder) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y);
    };
  };
}

class GpuTiledImage implements TiledImage {
  constructor(private readonly device: GPUDevice, readonly buffer: GPUBuffer, readonly width: number,
    readonly height: number, readonly grid: TiledImage['grid']) {}

  async pixels(): Promise<Uint8ClampedArray<ArrayBuffer>> {
    const staging = this.device.createBuffer({ label: 'tiled render read', size: this.buffer.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(this.buffer, 0, staging, 0, this.buffer.size);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return new Uint8ClampedArray(staging.getMappedRange().slice(0));
    } finally {
      staging.destroy();
    }
  }

  async drawTo(canvas: HTMLCanvasElement | OffscreenCanvas): Promise<void> {
    const data = new ImageData(await this.pixels(), this.width, this.height);
    canvas.width = this.width;
    canvas.height = this.height;
    const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
    if (!ctx) throw new Error('the canvas has no 2D context');
    ctx.putImageData(data, 0, 0);
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
