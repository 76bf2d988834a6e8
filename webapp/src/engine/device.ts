// Getting a WebGPU device for the engine, with the adapter's buffer and workgroup limits
// (the defaults are far below what large models and batches need), and watching it: uncaught
// errors and device loss are recorded so the next call fails loudly instead of returning junk.

const WANTED_LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage'] as const;

export interface EngineDevice {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** The first uncaptured error or the loss reason, if any: the device's results can't be trusted. */
  failure(): string | null;
  isLost(): boolean;
}

/** Engine devices not lost yet (the test page loses them on purpose: test_hooks.ts). */
export const liveDevices = new Set<GPUDevice>();

export async function openDevice(): Promise<EngineDevice> {
  if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('this browser offers no WebGPU adapter');
  const requiredLimits = Object.fromEntries(WANTED_LIMITS.map((k) => [k, adapter.limits[k]]));
  const device = await adapter.requestDevice({ label: 'tessera engine', requiredLimits });
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
  return { device, adapterInfo: adapter.info, failure: () => failure, isLost: () => lost };
}
