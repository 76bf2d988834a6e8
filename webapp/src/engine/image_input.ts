// Images as a call's input, prepared on the GPU: each source is copied into a texture of its
// own batch row (copyExternalImageToTexture; the textures are kept and remade only when a
// source's size changes), then the image-input kernel resizes, centre-crops and normalises
// it straight into the model's input buffer, in the same compute pass as the model.

import type { PipelineCache } from './executor';
import { imageInputKernel, imageInputParams, IMAGE_INPUT_PARAM_BYTES } from './kernels/image_input';
import { imageSize, type ImageSource } from './preprocess';
import type { Manifest } from './manifest';

/** Where the pixels of the input go: the model's own preprocessing, or (style networks) the
 *  whole image scaled so that white is `pixelRange`. */
export type ImageScaling =
  | { kind: 'preprocess'; resize: number; crop: number; mean: number[]; std: number[] }
  | { kind: 'range'; pixelRange: number };

export function imageScaling(manifest: Manifest): ImageScaling {
  if (manifest.preprocess) return { kind: 'preprocess', ...manifest.preprocess };
  if (manifest.pixel_range) return { kind: 'range', pixelRange: manifest.pixel_range };
  throw new Error(`${manifest.name} has neither preprocess nor pixel_range in its manifest, so the engine `
    + 'cannot turn an image into its input; pass a tensor instead');
}

/** The logical input shape [N, 3, H, W] for these sources. */
export function imageInputShape(scaling: ImageScaling, sources: ImageSource[]): number[] {
  if (!sources.length) throw new Error('no images were given');
  if (scaling.kind === 'preprocess') return [sources.length, 3, scaling.crop, scaling.crop];
  const { width, height } = imageSize(sources[0]);
  if (sources.some((s) => imageSize(s).width !== width || imageSize(s).height !== height)) {
    throw new Error('images fed to one call of a model without a fixed input size must all have the same size');
  }
  return [sources.length, 3, height, width];
}

/** The box of the source that becomes the input: shorter side resized to `resize`, the centre
 *  `crop`×`crop` of that (in source pixels, not rounded); or the whole image. */
function sourceBox(scaling: ImageScaling, width: number, height: number) {
  if (scaling.kind === 'range') return { x: 0, y: 0, width, height };
  const side = scaling.crop * Math.min(width, height) / scaling.resize;
  return { x: (width - side) / 2, y: (height - side) / 2, width: side, height: side };
}

interface Row { texture: GPUTexture | null; params: GPUBuffer; bindGroup: GPUBindGroup | null }

/** Copies `source` into `texture`. Where the browser can't copy a video frame to WebGPU
 *  (Chromium on SwiftShader refuses every VideoFrame), the frame is drawn into a 2D canvas
 *  first, synchronously, and that is copied; `staging` keeps the canvas between calls. */
function copySource(queue: GPUQueue, source: ImageSource, texture: GPUTexture, staging: { canvas?: OffscreenCanvas }): void {
  const size = [texture.width, texture.height];
  const isVideo = source instanceof VideoFrame || source instanceof HTMLVideoElement;
  if (!isVideo || !staging.canvas) {
    try {
      queue.copyExternalImageToTexture({ source }, { texture, premultipliedAlpha: false }, size);
      return;
    } catch (e) {
      if (!isVideo || !(e instanceof DOMException && e.name === 'OperationError')) throw e;
    }
  }
  if (staging.canvas?.width !== size[0] || staging.canvas.height !== size[1]) staging.canvas = new OffscreenCanvas(size[0], size[1]);
  const ctx = staging.canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0);
  queue.copyExternalImageToTexture({ source: staging.canvas }, { texture, premultipliedAlpha: false }, size);
}

export class ImageInput {
  private readonly rows: Row[];
  private readonly videoStaging: { canvas?: OffscreenCanvas } = {};

  private constructor(private readonly device: GPUDevice, private readonly pipeline: GPUComputePipeline,
    private readonly workgroups: [number, number], private readonly target: GPUBuffer,
    private readonly scaling: ImageScaling, private readonly shape: number[]) {
    this.rows = Array.from({ length: shape[0] }, (_, i) => ({
      texture: null, bindGroup: null,
      params: device.createBuffer({ label: `image input params ${i}`, size: IMAGE_INPUT_PARAM_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
    }));
  }

  /** For the input `shape` [N, 3, H, W] whose physical layout is logical.transpose(perm). */
  static async create(device: GPUDevice, pipelines: PipelineCache, manifest: Manifest, shape: number[],
    target: GPUBuffer, grid: (workgroups: number) => [number, number]): Promise<ImageInput> {
    const [, c, height, width] = shape;
    if (shape.length !== 4 || c !== 3) throw new Error(`${manifest.name} does not take RGB images (its input is [${manifest.inputs[0].shape}])`);
    const scaling = imageScaling(manifest);
    const perm = manifest.inputs[0].perm;
    const physical = perm.map((p) => shape[p]);
    const physicalStrides = physical.map((_, i) => physical.slice(i + 1).reduce((a, b) => a * b, 1));
    const strides = [0, 1, 2, 3].map((axis) => physicalStrides[perm.indexOf(axis)]) as [number, number, number, number];
    const [mean, std] = scaling.kind === 'preprocess' ? [scaling.mean, scaling.std]
      : [[0, 0, 0], new Array(3).fill(255 / scaling.pixelRange)];
    const kernel = imageInputKernel({ height, width, strides, mean, std });
    const pipeline = await pipelines.get(kernel);
    return new ImageInput(device, pipeline, grid(kernel.workgroups), target, scaling, shape);
  }

  /** Copies the sources into their textures and writes their parameters now (queue order:
   *  call it right before the submit of the command buffer that `encode`s into). */
  upload(sources: ImageSource[]): void {
    if (sources.length !== this.rows.length) throw new Error(`expected ${this.rows.length} images, got ${sources.length}`);
    const out = { width: this.shape[3], height: this.shape[2] };
    sources.forEach((source, i) => {
      const row = this.rows[i];
      const { width, height } = imageSize(source);
      if (!width || !height) throw new Error(`image ${i + 1} has no pixels (not loaded or zero-sized)`);
      if (row.texture?.width !== width || row.texture.height !== height) this.remake(row, width, height);
      copySource(this.device.queue, source, row.texture!, this.videoStaging);
      this.device.queue.writeBuffer(row.params, 0, imageInputParams(sourceBox(this.scaling, width, height), out, i));
    });
  }

  /** One dispatch per batch row, into the call's compute pass. */
  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.pipeline);
    for (const row of this.rows) {
      pass.setBindGroup(0, row.bindGroup!);
      pass.dispatchWorkgroups(...this.workgroups);
    }
  }

  private remake(row: Row, width: number, height: number): void {
    // Work already submitted keeps the old texture alive until it is done with it.
    row.texture?.destroy();
    row.texture = this.device.createTexture({ label: 'image input', size: [width, height], format: 'rgba8unorm',
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.RENDER_ATTACHMENT });
    row.bindGroup = this.device.createBindGroup({ label: 'image input', layout: this.pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: row.texture.createView() }, { binding: 1, resource: { buffer: row.params } },
        { binding: 2, resource: { buffer: this.target } }] });
  }

  destroy(): void {
    for (const row of this.rows) { row.texture?.destroy(); row.params.destroy(); }
  }
}
