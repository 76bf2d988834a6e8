// What the adapter report means for the user: advice for the known WebGPU pitfalls.

import type { AdapterReport } from '../engine/adapter';

export interface BrowserName { name: string; version: string }

export function browserName(ua: string): BrowserName {
  const rules: [string, RegExp][] = [
    ['Qt WebEngine', /QtWebEngine\/([\d.]+)/], ['Edge', /Edg\/([\d.]+)/], ['Brave', /Brave\/([\d.]+)/],
    ['Chrome', /(?:Chrome|Chromium)\/([\d.]+)/], ['Firefox', /Firefox\/([\d.]+)/],
    ['Safari', /Version\/([\d.]+).*Safari/],
  ];
  for (const [name, re] of rules) {
    const m = ua.match(re);
    if (m) return { name, version: m[1] };
  }
  return { name: 'unknown browser', version: '' };
}

export function adviceFor(r: AdapterReport): string[] {
  const browser = browserName(r.userAgent).name;
  const out: string[] = [];
  if (!r.webgpu) {
    if (browser === 'Firefox') {
      out.push('Firefox: WebGPU is on by default only in recent releases on Windows; elsewhere set dom.webgpu.enabled to true in about:config, or use a Chromium-family browser.');
    } else if (browser === 'Safari') {
      out.push('Safari: WebGPU is on by default from Safari 26; on older versions enable it under Develop → Feature Flags → WebGPU.');
    } else if (browser === 'Qt WebEngine') {
      out.push('This Qt WebEngine window is built without WebGPU: install Chromium, Chrome, Edge or Brave and run `tessera --shell chromium-app` for GPU speed.');
    } else {
      out.push('WebGPU is disabled in this browser: check chrome://gpu, and that it is not turned off by policy or chrome://flags.');
    }
  } else if (!r.adapter) {
    out.push('The browser has WebGPU but offered no adapter: the GPU or its driver may be blocklisted (see chrome://gpu). On Linux, Chromium needs a Vulkan driver (start it with --enable-features=Vulkan).');
  } else if (r.software) {
    out.push('Only a software adapter (a CPU emulating a GPU) is available; it is far slower than WebAssembly, so models run on wasm. Install or update the GPU driver for GPU speed.');
  } else {
    out.push('Tessera asks for powerPreference "high-performance", so a laptop with two GPUs should hand it the discrete one; if the adapter above is the integrated GPU, set this browser to "High performance" in the system graphics settings (Windows: Settings → System → Display → Graphics).');
    if (!r.features?.includes('shader-f16')) out.push('No shader-f16 on this adapter: models run in fp32, which needs twice the memory bandwidth.');
  }
  if (!r.crossOriginIsolated) out.push('The page is not cross-origin isolated, so WebAssembly runs single-threaded.');
  return out;
}
