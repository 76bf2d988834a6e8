// Softmax and top-k over one row of class scores.

export interface Prediction { index: number; label: string; score: number }

export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += (out[i] = Math.exp(logits[i] - max));
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

export function topK(probs: Float32Array, labels: string[], k: number): Prediction[] {
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, k);
  return idx.map((i) => ({ index: i, label: labels[i] ?? `class ${i}`, score: probs[i] }));
}
