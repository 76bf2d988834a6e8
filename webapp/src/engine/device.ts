// Getting a WebGPU device for the engine, with the adapter's buffer and workgroup limits
// (the defaults are far below what large models and batches need), and watching it: uncaught
// errors and device loss are recorded so the next call fails loudly instead of returning junk.
// The `subgroups` feature is requested when the adapter has it (unless the caller turns it
// off), so that kernels may reduce with subgroup operations (kernels/reduce.ts), and with it
// `chromium-experimental-subgroup-matrix` when the adapter multiplies int8 matrices at the size
// kernels/conv2d_int8.ts uses.

import { hasInt8Matrices, SUBGROUP_MATRIX } from './adapter';
import type { SubgroupSizes } from './kernels/common';

const WANTED_LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage'] as const;

export interface EngineDevice {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** The subgroup sizes when the device has the `subgroups` feature enabled, else null. */
  subgroups: SubgroupSizes | null;
  /** The device multiplies 16×16×32 int8 matrices into i32 on a subgroup (the feature is on). */
  int8Matrices: boolean;
  /** The first uncaptured error or the loss reason, if any: the device's results can't be trusted. */
  failure(): string | null;
  isLost(): boolean;
}

/** Engine devices not lost yet (the test page loses them on purpose: test_hooks.ts). */
export const liveDevices = new Set<GPUDevice>();

/** `subgroups: false` leaves the feature off even where the adapter has it. */
export async function openDevice(options: { subgroups?: boolean } = {}): Promise<EngineDevice> {
  if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('this browser offers no WebGPU adapter');
  const requiredLimits = Object.fromEntries(WANTED_LIMITS.map((k) => [k, adapter.limits[k]]));
  const { subgroupMinSize: minSize, subgroupMaxSize: maxSize } = adapter.info;
  const subgroups = options.subgroups !== false && adapter.features.has('subgroups') && minSize && maxSize
    ? { minSize, maxSize } : null;
  const int8Matrices = subgroups !== null && hasInt8Matrices(adapter);
  // (casts: the older @webgpu/types that tfjs brings along has neither feature name)
  const requiredFeatures = [...(subgroups ? ['subgroups'] : []), ...(int8Matrices ? [SUBGROUP_MATRIX] : [])];
  const device = await adapter.requestDevice({ label: 'tessera engine', requiredLimits,
    requiredFeatures: requiredFeatures as unknown as GPUFeatureName[] });
  let failure: string | null = null;
  let lost = false;
  device.addEventListener('uncapturederror', (e) => {
    failure ??= `WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`;
  });
  liveDevices.add(device);
  void device.lost.then((info) => {
    liveDevices.delete(device);
    lost = true;
    failure ??= `the GPU device was lost (${info.reason}: ${info.message})`;
  });
  return { device, adapterInfo: adapter.info, subgroups, int8Matrices, failure: () => failure, isLost: () => lost };
}
