// An image output drawn into a WebGPU canvas with no readback: a render pass, in the call's
// own command buffer after the model's compute pass, writes the canvas's current texture.
// The canvas is configured with the engine's device on first use.
//
// A canvas may have compositing set (setCompositing): the original image, uploaded once into
// a texture, blended by strength, with its colours kept or not and shown left of a split line.
// redraw() draws the last output drawn into a canvas again with the compositing as it is now,
// without running the model: a slider moves and only the render pass runs.

import { canvasOutputParams, canvasOutputShader, CANVAS_OUTPUT_PARAM_BYTES } from './kernels/canvas_output';
import type { Manifest } from './manifest';

export interface Compositing {
  /** The image the model was given, at any size (sampled bilinearly); null: none. */
  original: GPUCopyExternalImageSource | null;
  strength: number;            // 1: the output, 0: the original
  preserveColours: boolean;    // the output's luminance with the original's chroma
  split: number;               // the fraction of the width, from the left, showing the original
}

const NO_COMPOSITING: Compositing = { original: null, strength: 1, preserveColours: false, split: 0 };

const configured = new WeakMap<GPUCanvasContext, { device: GPUDevice; format: GPUTextureFormat }>();
const compositing = new WeakMap<GPUCanvasContext, Compositing>();
const lastDrawn = new WeakMap<GPUCanvasContext, CanvasOutput>();

/** Sets how every later draw into this canvas composites the output with the original. */
export function setCompositing(context: GPUCanvasContext, c: Compositing): void {
  compositing.set(context, c);
}

/** Draws the last output drawn into this canvas again, with its current compositing; false
 *  when nothing was drawn into it yet (or that model was disposed). */
export async function redraw(context: GPUCanvasContext): Promise<boolean> {
  const output = lastDrawn.get(context);
  if (!output || output.destroyed) return false;
  const record = await output.prepare(context);
  const enc = output.device.createCommandEncoder({ label: 'canvas redraw' });
  record(enc);
  output.device.queue.submit([enc.finish()]);
  return true;
}

interface OriginalTexture { source: GPUCopyExternalImageSource | null; texture: GPUTexture; bindGroup: GPUBindGroup | null }

export class CanvasOutput {
  private readonly pipelines = new Map<GPUTextureFormat, Promise<GPURenderPipeline>>();
  private readonly params: GPUBuffer;
  private readonly shader: string;
  private readonly layout: GPUBindGroupLayout;
  private readonly sampler: GPUSampler;
  private original: OriginalTexture;
  destroyed = false;

  /** For the output of physical shape `physical` = logical.transpose(perm), the logical
   *  shape an RGB image channels-first [1, 3, H, W] (multistyle26) or channels-last
   *  [1, H, W, 3] (the arbitrary-style transform). */
  constructor(readonly device: GPUDevice, manifest: Manifest, physical: number[],
    private readonly output: GPUBuffer, pixelRange: number | undefined) {
    const spec = manifest.outputs[0];
    const logical = new Array<number>(physical.length);
    spec.perm.forEach((p, i) => { logical[p] = physical[i]; });
    const channelAxis = logical.length === 4 ? [1, 3].find((a) => logical[a] === 3) : undefined;
    if (channelAxis === undefined) {
      throw new Error(`${manifest.name} does not output an RGB image (its output is [${logical}])`);
    }
    if (!pixelRange) throw new Error(`${manifest.name} has no pixel_range in its manifest; say what value white has (outputRange)`);
    // The logical axes of c, h and w, and one step's physical offset along each.
    const [c, h, w] = channelAxis === 1 ? [1, 2, 3] : [3, 1, 2];
    const physicalStrides = physical.map((_, i) => physical.slice(i + 1).reduce((a, b) => a * b, 1));
    const [sc, sh, sw] = [c, h, w].map((axis) => physicalStrides[spec.perm.indexOf(axis)]);
    this.shader = canvasOutputShader({ height: logical[h], width: logical[w], strides: [sc, sh, sw], pixelRange });
    this.params = device.createBuffer({ label: 'canvas output params', size: CANVAS_OUTPUT_PARAM_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.layout = device.createBindGroupLayout({ label: 'canvas output', entries: [
      { binding: 0, visibility: GPUShaderStage.FRAGMENT, buffer: { type: 'read-only-storage' } },
      { binding: 1, visibility: GPUShaderStage.FRAGMENT, buffer: { type: 'uniform' } },
      { binding: 2, visibility: GPUShaderStage.FRAGMENT, texture: { sampleType: 'float' } },
      { binding: 3, visibility: GPUShaderStage.FRAGMENT, sampler: { type: 'filtering' } },
    ] });
    this.sampler = device.createSampler({ magFilter: 'linear', minFilter: 'linear' });
    // Until an original is set, a 1×1 stand-in that neutral compositing never shows.
    this.original = { source: null, texture: this.originalTexture(1, 1), bindGroup: null };
  }

  /** Configures the canvas (once), compiles the pipeline for its format (once per format);
   *  the returned function records the draw into a command encoder: call it right before
   *  that encoder's submit. */
  async prepare(context: GPUCanvasContext): Promise<(enc: GPUCommandEncoder) => void> {
    let canvas = configured.get(context);
    if (canvas?.device !== this.device) {
      canvas = { device: this.device, format: navigator.gpu.getPreferredCanvasFormat() };
      context.configure({ device: this.device, format: canvas.format, alphaMode: 'opaque' });
      configured.set(context, canvas);
    }
    const pipeline = await this.pipeline(canvas.format);
    return (enc) => {
      const c = compositing.get(context) ?? NO_COMPOSITING;
      const bindGroup = this.bindGroup(c.original);
      const texture = context.getCurrentTexture();
      const composite = c.original ? c : NO_COMPOSITING;
      this.device.queue.writeBuffer(this.params, 0, canvasOutputParams(texture, composite));
      const pass = enc.beginRenderPass({ colorAttachments: [{ view: texture.createView(), loadOp: 'clear',
        storeOp: 'store', clearValue: [0, 0, 0, 1] }] });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.draw(3);
      pass.end();
      lastDrawn.set(context, this);
    };
  }

  /** The bind group over the original's texture, uploading `source` when it is a new one. */
  private bindGroup(source: GPUCopyExternalImageSource | null): GPUBindGroup {
    const o = this.original;
    if (source && source !== o.source) {
      const { width, height } = source as { width: number; height: number };
      if (o.texture.width !== width || o.texture.height !== height) {
        o.texture.destroy();     // work already submitted keeps it alive until done
        o.texture = this.originalTexture(width, height);
        o.bindGroup = null;
      }
      this.device.queue.copyExternalImageToTexture({ source }, { texture: o.texture }, [width, height]);
      o.source = source;
    }
    o.bindGroup ??= this.device.createBindGroup({ label: 'canvas output', layout: this.layout, entries: [
      { binding: 0, resource: { buffer: this.output } }, { binding: 1, resource: { buffer: this.params } },
      { binding: 2, resource: o.texture.createView() }, { binding: 3, resource: this.sampler }] });
    return o.bindGroup;
  }

  private originalTexture(width: number, height: number): GPUTexture {
    return this.device.createTexture({ label: 'canvas output original', size: [width, height], format: 'rgba8unorm',
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.RENDER_ATTACHMENT });
  }

  private pipeline(format: GPUTextureFormat): Promise<GPURenderPipeline> {
    let p = this.pipelines.get(format);
    if (!p) {
      const module = this.device.createShaderModule({ label: 'canvas output', code: this.shader });
      p = this.device.createRenderPipelineAsync({ label: 'canvas output',
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
        vertex: { module, entryPoint: 'vs' }, fragment: { module, entryPoint: 'fs', targets: [{ format }] },
        primitive: { topology: 'triangle-list' } });
      this.pipelines.set(format, p);
    }
    return p;
  }

  destroy(): void {
    this.destroyed = true;
    this.params.destroy();
    this.original.texture.destroy();
  }
}
