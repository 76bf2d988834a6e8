// Weight shards to GPU buffers: each shard becomes one storage buffer, written as soon as its
// bytes arrive (while pipelines compile); ops bind their slices at the manifest's offsets,
// which the compiler aligns to 256 bytes (WebGPU's storage offset alignment); bindings are
// rounded up to 16 bytes for vec4 arrays, so shard buffers are too.

import { UnsupportedOpError } from './kernels/common';
import type { Manifest, Precision } from './manifest';
import type { FetchedPackage } from './loader';

export interface WeightStore {
  precision: Precision;
  binding(slice: string): GPUBufferBinding;
  destroy(): void;
}

/** A model whose weights this GPU can't hold in its buffers: like an unsupported op, the engine
 *  can't run it (under `auto` the app runs it on wasm instead). */
export class WeightsTooLargeError extends UnsupportedOpError {}

/** Bytes of each shard of `precision`, from where its slices end. */
function shardBytes(manifest: Manifest, precision: Precision): number[] {
  const bytes = manifest.weights.shards[precision].map(() => 0);
  for (const s of Object.values(manifest.weights.slices)) {
    const loc = s[precision];
    bytes[loc.shard] = Math.max(bytes[loc.shard], loc.offset + loc.bytes);
  }
  return bytes;
}

/** Refuses, before anything is allocated, a package with a shard (one buffer) over the device's
 *  per-buffer limit: a weight larger than the compiler's shard size is a shard of its own. */
export function checkWeightsFit(manifest: Manifest, precision: Precision, limits: GPUSupportedLimits): void {
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const largest = Math.max(0, ...shardBytes(manifest, precision));
  if (largest > limit) {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    throw new WeightsTooLargeError(`${manifest.name} has a ${mib(largest)} ${precision} weight; this GPU allows `
      + `${mib(limit)} per buffer${precision === 'fp32' ? ' (fp16 weights take half)' : ''}`);
  }
}

export async function uploadWeights(device: GPUDevice, fetched: FetchedPackage): Promise<WeightStore> {
  const { manifest, precision } = fetched;
  const shards = await Promise.all(fetched.shards.map(async (pending, i) => {
    const bytes = await pending;
    const buffer = device.createBuffer({ label: `weights ${precision} ${i}`, size: Math.ceil(bytes.byteLength / 16) * 16 || 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, bytes, 0, bytes.byteLength & ~3);
    if (bytes.byteLength & 3) {       // writeBuffer moves whole words; the tail goes padded
      const tail = new Uint8Array(4);
      tail.set(new Uint8Array(bytes, bytes.byteLength & ~3));
      device.queue.writeBuffer(buffer, bytes.byteLength & ~3, tail);
    }
    return buffer;
  }));
  return {
    precision,
    binding: (slice) => sliceBinding(manifest, precision, shards, slice),
    destroy: () => shards.forEach((b) => b.destroy()),
  };
}

function sliceBinding(manifest: Manifest, precision: Precision, shards: GPUBuffer[], slice: string): GPUBufferBinding {
  const s = manifest.weights.slices[slice];
  if (!s) throw new Error(`${manifest.name}: weight ${slice} is not in the manifest`);
  const loc = s[precision];
  return { buffer: shards[loc.shard], offset: loc.offset, size: Math.ceil(loc.bytes / 16) * 16 };
}
