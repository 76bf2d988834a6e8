// The model description (model.json) the Python side writes beside each model.

export interface Preprocess {
  resize: number;            // shorter side, in pixels, before the centre crop
  crop: number;              // square crop fed to the network
  mean: [number, number, number];   // in 0..255 pixel units
  std: [number, number, number];
}

export interface ModelMeta {
  format: number;
  name: string;
  title: string;
  task: 'classify' | 'stylize';
  source: string;            // ONNX file name, relative to the model's folder
  labels?: string;
  input: { name: string; shape: number[]; layout: 'NCHW' | 'NHWC' };
  output: { name: string; kind: 'logits' | 'probabilities' };
  preprocess: Preprocess;
}

export interface LoadedModel {
  meta: ModelMeta;
  baseUrl: string;           // folder URL ending in '/'
  labels: string[];
}

export async function loadModelMeta(baseUrl: string): Promise<LoadedModel> {
  const res = await fetch(`${baseUrl}model.json`);
  if (!res.ok) throw new Error(`model description not found at ${baseUrl} (HTTP ${res.status})`);
  const meta = (await res.json()) as ModelMeta;
  let labels: string[] = [];
  if (meta.labels) {
    const lr = await fetch(`${baseUrl}${meta.labels}`);
    if (!lr.ok) throw new Error(`labels for ${meta.name} not found (HTTP ${lr.status})`);
    labels = (await lr.json()) as string[];
  }
  return { meta, baseUrl, labels };
}
