// The correctness gate: a runtime's output against onnxruntime (CPU) on the same input.

export interface OutputCheck {
  relL2: number;      // ||out - expected|| / ||expected||; NaN when the output is malformed
  maxAbs: number;
  passed: boolean;
  error?: string;
}

export function checkOutput(out: Float32Array, expected: Float32Array, tolerance: number): OutputCheck {
  if (out.length !== expected.length) {
    return { relL2: NaN, maxAbs: NaN, passed: false,
      error: `output has ${out.length} values, expected ${expected.length}` };
  }
  let diff2 = 0;
  let ref2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < out.length; i++) {
    const d = out[i] - expected[i];
    diff2 += d * d;
    ref2 += expected[i] * expected[i];
    const a = Math.abs(d);
    if (!(a <= maxAbs)) maxAbs = a;   // NaN sticks
  }
  const relL2 = Math.sqrt(diff2) / Math.sqrt(ref2 || 1);
  return { relL2, maxAbs, passed: relL2 <= tolerance };    // false for NaN too
}

/** Keep the worse of two checks (the first inference and the last timed one). */
export function worse(a: OutputCheck, b: OutputCheck): OutputCheck {
  if (!b.passed && a.passed) return b;
  if (!a.passed && b.passed) return a;
  return (b.relL2 > a.relL2 || Number.isNaN(b.relL2)) ? b : a;
}
