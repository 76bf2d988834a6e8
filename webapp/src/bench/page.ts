// The bench page (mode=bench&plan=<id>): one measurement per page, so every runtime starts cold
// in a fresh browser, as a user's would. The plan comes from the CLI's job API; the result goes
// back the same way, with what this browser and adapter are.

import { getJSON, postJSON } from '../api';
import { probeAdapter } from '../engine/adapter';
import { installGpuInstruments } from './gpu_instrument';
import { measure, type BenchSettings } from './measure';
import { ortWasm, ortWebgpu } from './ort_runtimes';
import type { BenchInput, BenchRuntime } from './runtime';
import { tessera } from './tessera_runtime';
import { tfjsWebgl, tfjsWebgpu } from './tfjs_runtimes';

const RUNTIMES: Record<string, () => BenchRuntime> = {
  tessera,
  'ort-webgpu': ortWebgpu,
  'ort-wasm': ortWasm,
  'tfjs-webgpu': tfjsWebgpu,
  'tfjs-webgl': tfjsWebgl,
};

interface BenchPlan {
  runtime: string;
  model: string;
  onnx_url: string;
  package_url: string;
  case_url: string;                 // folder of case.json's files, ending in '/'
  case: {
    inputs: { name: string; shape: number[]; file: string }[];
    expected: { shape: number[]; file: string };
    tfjs_graph: string;
    tfjs_weights: string;
  };
  settings: BenchSettings;
}

async function fetchFloat32(url: string): Promise<Float32Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Float32Array(await res.arrayBuffer());
}

export async function runBench(planId: string): Promise<void> {
  const gpu = installGpuInstruments();           // before anything touches WebGPU
  const base = `api/jobs/${encodeURIComponent(planId)}`;
  const stage = (name: string) => postJSON(`${base}/status`, { stage: name });
  let result: Record<string, unknown>;
  try {
    const plan = await getJSON<BenchPlan>(base);
    const environment = await probeAdapter();
    const make = RUNTIMES[plan.runtime];
    if (!make) throw new Error(`this page has no runtime called ${plan.runtime}`);
    await stage('fetching inputs');
    const caseUrl = new URL(plan.case_url, document.baseURI);
    const inputs: BenchInput[] = await Promise.all(plan.case.inputs.map(async (x) => ({
      name: x.name, shape: x.shape, data: await fetchFloat32(new URL(x.file, caseUrl).href) })));
    const expected = await fetchFloat32(new URL(plan.case.expected.file, caseUrl).href);
    const model = {
      name: plan.model,
      onnxUrl: new URL(plan.onnx_url, document.baseURI).href,
      packageUrl: new URL(plan.package_url, document.baseURI).href,
      tfjsGraphUrl: new URL(plan.case.tfjs_graph, caseUrl).href,
      tfjsWeightsUrl: new URL(plan.case.tfjs_weights, caseUrl).href,
    };
    const m = await measure(make(), model, inputs, expected, plan.settings, gpu, stage);
    result = { ...m, environment };
  } catch (e) {
    result = { status: 'error', error: `set-up: ${e instanceof Error ? e.message : String(e)}` };
  }
  await postJSON(`${base}/results`, result);
}
