// Finds out what WebGPU adapter this browser offers, and which backend that makes sensible:
// 'webgpu' is Tessera's own engine, 'wasm' onnxruntime-web's wasm backend. (onnxruntime-web's
// WebGPU EP is no backend of the app any more; `tessera bench` still measures it as ort-webgpu.)

export type BackendChoice = 'auto' | 'webgpu' | 'wasm';
export type BackendName = 'webgpu' | 'wasm';

export interface AdapterReport {
  userAgent: string;
  webgpu: boolean;            // navigator.gpu exists
  adapter: boolean;           // requestAdapter() returned one
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  fallback?: boolean;         // the browser says it's a fallback adapter
  software?: boolean;         // a CPU implementation (fallback flag or SwiftShader)
  features?: string[];
  /** The subgroup sizes the adapter may use, with the `subgroups` feature (the engine's
   *  reductions use them: kernels/reduce.ts). */
  subgroupSizes?: { min: number; max: number };
  /** The adapter multiplies int8 matrices on a subgroup at the size the engine's int8 convs use
   *  (kernels/conv2d_int8.ts): QDQ networks' big convs run on its matrix units. */
  int8Matrices?: boolean;
  limits?: Record<string, number>;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  error?: string;
}

const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX'] as const;

export async function probeAdapter(): Promise<AdapterReport> {
  const report: AdapterReport = {
    userAgent: navigator.userAgent,
    webgpu: 'gpu' in navigator,
    adapter: false,
    crossOriginIsolated: self.crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
  };
  if (!report.webgpu) return report;
  try {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return report;
    const info = adapter.info;
    Object.assign(report, {
      adapter: true,
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      fallback: isFallbackAdapter(info),
      software: isSoftwareAdapter(info),
      features: [...adapter.features].sort(),
      limits: Object.fromEntries(LIMITS.map((k) => [k, adapter.limits[k]])),
    });
    if (adapter.features.has('subgroups') && info.subgroupMinSize && info.subgroupMaxSize) {
      report.subgroupSizes = { min: info.subgroupMinSize, max: info.subgroupMaxSize };
    }
    report.int8Matrices = hasInt8Matrices(adapter);
  } catch (e) {
    report.error = String(e);
  }
  return report;
}

/** 'yes, size 4' / 'yes, sizes 4–128' / 'no'. */
export function describeSubgroups(r: AdapterReport): string {
  const s = r.subgroupSizes;
  if (!s) return 'no';
  return s.min === s.max ? `yes, size ${s.min}` : `yes, sizes ${s.min}–${s.max}`;
}

export const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix';

interface SubgroupMatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }

/** The adapter has subgroups and multiplies 16×16×32 int8 matrices into i32 on a subgroup. */
export function hasInt8Matrices(adapter: GPUAdapter): boolean {
  if (!adapter.features.has('subgroups') || !adapter.features.has(SUBGROUP_MATRIX)) return false;
  const configs = (adapter.info as unknown as { subgroupMatrixConfigs?: SubgroupMatrixConfig[] }).subgroupMatrixConfigs ?? [];
  return configs.some((c) => c.componentType === 'i8' && c.resultComponentType === 'i32' && c.M === 16 && c.N === 16 && c.K === 32);
}

/** A CPU implementation of WebGPU (the fallback flag, or SwiftShader, llvmpipe, lavapipe). */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  return isFallbackAdapter(info) || /swiftshader|llvmpipe|lavapipe|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
}

/** The browser's own flag (not yet in every GPUAdapterInfo typing). */
function isFallbackAdapter(info: GPUAdapterInfo): boolean {
  return Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter);
}

/** `auto` takes WebGPU only on a hardware adapter: a software one is ~100x slower than wasm. */
export function chooseBackend(choice: BackendChoice, report: AdapterReport): BackendName {
  if (choice === 'wasm') return 'wasm';
  if (choice === 'webgpu') {
    if (!report.adapter) {
      throw new Error('WebGPU was requested but this browser offers no WebGPU adapter; '
        + 'use --backend wasm or auto, or enable WebGPU in the browser.');
    }
    return 'webgpu';
  }
  return report.adapter && !report.software ? 'webgpu' : 'wasm';
}
