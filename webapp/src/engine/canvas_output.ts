// An image output drawn into a WebGPU canvas with no readback: a render pass, in the call's
// own command buffer after the model's compute pass, writes the canvas's current texture.
// The canvas is configured with the engine's device on first use.

import { canvasOutputShader, CANVAS_OUTPUT_PARAM_BYTES } from './kernels/canvas_output';
import type { Manifest } from './manifest';

const configured = new WeakMap<GPUCanvasContext, { device: GPUDevice; format: GPUTextureFormat }>();

export class CanvasOutput {
  private readonly pipelines = new Map<GPUTextureFormat, Promise<{ pipeline: GPURenderPipeline; bindGroup: GPUBindGroup }>>();
  private readonly params: GPUBuffer;
  private readonly shader: string;

  /** For the output of physical shape `physical` = logical [1, 3, H, W].transpose(perm). */
  constructor(private readonly device: GPUDevice, manifest: Manifest, physical: number[],
    private readonly output: GPUBuffer, pixelRange: number | undefined) {
    const spec = manifest.outputs[0];
    const logical = new Array<number>(physical.length);
    spec.perm.forEach((p, i) => { logical[p] = physical[i]; });
    if (logical.length !== 4 || logical[1] !== 3) {
      throw new Error(`${manifest.name} does not output an RGB image (its output is [${logical}])`);
    }
    if (!pixelRange) throw new Error(`${manifest.name} has no pixel_range in its manifest; say what value white has (outputRange)`);
    const physicalStrides = physical.map((_, i) => physical.slice(i + 1).reduce((a, b) => a * b, 1));
    const [, sc, sh, sw] = [0, 1, 2, 3].map((axis) => physicalStrides[spec.perm.indexOf(axis)]);
    this.shader = canvasOutputShader({ height: logical[2], width: logical[3], strides: [sc, sh, sw], pixelRange });
    this.params = device.createBuffer({ label: 'canvas output params', size: CANVAS_OUTPUT_PARAM_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
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
    const { pipeline, bindGroup } = await this.pipeline(canvas.format);
    return (enc) => {
      const texture = context.getCurrentTexture();
      this.device.queue.writeBuffer(this.params, 0, new Float32Array([texture.width, texture.height, 0, 0]));
      const pass = enc.beginRenderPass({ colorAttachments: [{ view: texture.createView(), loadOp: 'clear',
        storeOp: 'store', clearValue: [0, 0, 0, 1] }] });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.draw(3);
      pass.end();
    };
  }

  private pipeline(format: GPUTextureFormat) {
    let p = this.pipelines.get(format);
    if (!p) {
      const module = this.device.createShaderModule({ label: 'canvas output', code: this.shader });
      p = this.device.createRenderPipelineAsync({ label: 'canvas output', layout: 'auto',
        vertex: { module, entryPoint: 'vs' }, fragment: { module, entryPoint: 'fs', targets: [{ format }] },
        primitive: { topology: 'triangle-list' } }).then((pipeline) => ({ pipeline,
        bindGroup: this.device.createBindGroup({ label: 'canvas output', layout: pipeline.getBindGroupLayout(0),
          entries: [{ binding: 0, resource: { buffer: this.output } }, { binding: 1, resource: { buffer: this.params } }] }) }));
      this.pipelines.set(format, p);
    }
    return p;
  }

  destroy(): void {
    this.params.destroy();
  }
}
