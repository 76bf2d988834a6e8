// Instance-norm statistics captured by one call and supplied to others (planner.ts
// NormStatsMode): GPU buffers, one per normalising op, copied out of the capturing call's
// statistics buffers in its own command buffer and into a supplied call's before its pass.
// Nothing goes through the CPU.

import type { PreparedCall } from './executor';

export class NormStats {
  private constructor(private readonly device: GPUDevice, private readonly buffers: Map<string, GPUBuffer>) {}

  /** Buffers for the statistics of `call` (a capture plan), and the encoder step filling them. */
  static forCapture(device: GPUDevice, call: PreparedCall): { stats: NormStats; copyOut: (enc: GPUCommandEncoder) => void } {
    const buffers = new Map(call.plan.normStats.map(({ id, bytes }) => [id, device.createBuffer({
      label: id, size: bytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE })]));
    const stats = new NormStats(device, buffers);
    return { stats, copyOut: (enc) => { for (const [id, b] of buffers) enc.copyBufferToBuffer(call.scratch(id), 0, b, 0, b.size); } };
  }

  /** The encoder step copying these statistics into `call` (a supply plan of the same model
   *  and batch size), to run before its compute pass. */
  copyInto(call: PreparedCall): (enc: GPUCommandEncoder) => void {
    const wanted = call.plan.normStats;
    const mismatch = wanted.find(({ id, bytes }) => this.buffers.get(id)?.size !== bytes);
    if (mismatch || wanted.length !== this.buffers.size) {
      throw new Error(`these statistics don't fit this call (${mismatch?.id ?? 'a different set of norms'}): `
        + 'capture them with the same model and batch size');
    }
    return (enc) => { for (const [id, b] of this.buffers) enc.copyBufferToBuffer(b, 0, call.scratch(id), 0, b.size); };
  }

  /** (mean, variance) or pooled values per op, read back (docs and tests measure them). */
  async read(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    const enc = this.device.createCommandEncoder();
    const staging = [...this.buffers].map(([id, b]) => {
      const s = this.device.createBuffer({ label: `${id} read`, size: b.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(b, 0, s, 0, b.size);
      return [id, s] as const;
    });
    this.device.queue.submit([enc.finish()]);
    for (const [id, s] of staging) {
      await s.mapAsync(GPUMapMode.READ);
      out[id] = new Float32Array(s.getMappedRange().slice(0));
      s.destroy();
    }
    return out;
  }

  destroy(): void {
    for (const b of this.buffers.values()) b.destroy();
  }
}
