// resize {mode: nearest|linear|cubic, coordinate_transformation_mode, nearest_mode, scales,
// cubic_coeff_a, exclude_outside} over H, W of NHWC, ONNX Resize semantics: one thread per output
// pixel and vec4 of channels; cubic reads 4×4 taps (clamped to the edge, or with
// exclude_outside weighted 0 past it and the rest renormalised), Keys' weights. Source
// coordinates are computed in f32, as onnxruntime computes them; where one lands exactly on a
// nearest-rounding tie (x.5) the division's last bit decides, which WGSL leaves to the device
// (within 2.5 ulp), so such outputs may pick the other neighbour. Integer upsampling in the
// asymmetric mode (the style networks') divides by a power of two or lands on no tie.

import { ENTRY_PARAMS, f32, inOutRows, pad4, pixelVec4Index, RowTensor, u32, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

/** WGSL expression: the source coordinate (f32) of output coordinate `o` (f32) on one axis. */
function sourceCoord(mode: string, outLen: number, inLen: number, scale: number): string {
  const s = f32(scale);
  switch (mode) {
    case 'asymmetric': return `o / ${s}`;
    case 'align_corners':   // ONNX divides by the unrounded output length in_len·scale
      return outLen > 1 ? `o * ${f32(inLen - 1)} / ${f32(Math.fround(inLen * Math.fround(scale)) - 1)}` : '0.0';
    case 'pytorch_half_pixel': return outLen > 1 ? `(o + 0.5) / ${s} - 0.5` : '0.0';
    case 'half_pixel_symmetric': {
      const adjust = outLen / (Math.fround(scale) * inLen);
      return `${f32((inLen / 2) * (1 - adjust))} + (o + 0.5) / ${s} - 0.5`;
    }
    case 'half_pixel': return `(o + 0.5) / ${s} - 0.5`;
    default: throw new Error(`resize: coordinate mode ${mode} has no kernel`);
  }
}

const ROUND: Record<string, (v: string) => string> = {
  round_prefer_floor: (v) => `ceil(${v} - 0.5)`,
  round_prefer_ceil: (v) => `floor(${v} + 0.5)`,
  floor: (v) => `floor(${v})`,
  ceil: (v) => `ceil(${v})`,
};

/** WGSL declaring, for one axis, the nearest tap lo, or the linear taps lo/hi and hi's weight F. */
function axis(name: string, a: OpSpec['attrs'], outLen: number, inLen: number, scale: number): string {
  const coord = sourceCoord(a.coordinate_transformation_mode, outLen, inLen, scale);
  if (a.mode === 'nearest') {
    return `let ${name}Lo = u32(clamp(${ROUND[a.nearest_mode](`(${coord})`)}, 0.0, ${f32(inLen - 1)}));`;
  }
  if (a.mode === 'cubic') {
    const last = f32(inLen - 1);
    const inside = (d: number) => `f32(${name}B + ${f32(d)} >= 0.0 && ${name}B + ${f32(d)} <= ${last})`;
    return `let ${name}S = ${coord};
  let ${name}B = floor(${name}S);
  var ${name}W = cubicWeights(${name}S - ${name}B);
  ${a.exclude_outside ? `${name}W *= vec4<f32>(${inside(-1)}, ${inside(0)}, ${inside(1)}, ${inside(2)});
  ${name}W /= dot(${name}W, vec4<f32>(1.0));` : ''}
  let ${name}T = vec4<u32>(clamp(vec4<f32>(${name}B) + vec4<f32>(-1.0, 0.0, 1.0, 2.0), vec4<f32>(0.0), vec4<f32>(${last})));`;
  }
  return `let ${name}S = clamp(${coord}, 0.0, ${f32(inLen - 1)});
  let ${name}Lo = u32(floor(${name}S));
  let ${name}Hi = min(${name}Lo + 1u, ${u32(inLen - 1)});
  let ${name}F = ${name}S - floor(${name}S);`;
}

/** WGSL: Keys' weights of the taps at floor(s) − 1 … floor(s) + 2, for t = s − floor(s). */
function cubicWeightsFn(A: number): string {
  const a = f32(A);
  return `fn cubicWeights(t: f32) -> vec4<f32> {
  let near = vec2<f32>(t, 1.0 - t);
  let far = vec2<f32>(t + 1.0, 2.0 - t);
  let n = ((${a} + 2.0) * near - (${a} + 3.0)) * near * near + 1.0;
  let f = ((${a} * far - 5.0 * ${a}) * far + 8.0 * ${a}) * far - 4.0 * ${a};
  return vec4<f32>(f.x, n.x, n.y, f.y);
}`;
}

/** WGSL storing the cubic interpolation of the 4×4 taps yT × xT with weights yW, xW. */
function cubicStore(W: number): string {
  const row = (i: number) => `(yW[${i}] * (xW.x * ld_x(base + yT[${i}] * ${u32(W)} + xT.x, c) + xW.y * ld_x(base + yT[${i}] * ${u32(W)} + xT.y, c)
      + xW.z * ld_x(base + yT[${i}] * ${u32(W)} + xT.z, c) + xW.w * ld_x(base + yT[${i}] * ${u32(W)} + xT.w, c)))`;
  return `st_y(m, c, ${[0, 1, 2, 3].map(row).join('\n    + ')});`;
}

export function resize(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  if (!['nearest', 'linear', 'cubic'].includes(a.mode)) throw new Error(`resize: mode ${a.mode} has no kernel`);
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const [, OH, OW] = ctx.shape(op.outputs[0]);
  const [sy, sx] = a.scales as number[];
  const C4 = pad4(C) / 4;
  const total = N * OH * OW * C4;
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  const source = `
${inOutRows(x, y)}
${a.mode === 'cubic' ? cubicWeightsFn(a.cubic_coeff_a) : ''}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${pixelVec4Index(THREADS, total, C4)}
  let base = (m / ${u32(OH * OW)}) * ${u32(H * W)};
  let p = m % ${u32(OH * OW)};
  var o = f32(p / ${u32(OW)});
  ${axis('y', a, OH, H, sy)}
  o = f32(p % ${u32(OW)});
  ${axis('x', a, OW, W, sx)}
  ${a.mode === 'cubic' ? cubicStore(W) : a.mode === 'nearest' ? `st_y(m, c, ld_x(base + yLo * ${u32(W)} + xLo, c));` : `let top = mix(ld_x(base + yLo * ${u32(W)} + xLo, c), ld_x(base + yLo * ${u32(W)} + xHi, c), xF);
  let bottom = mix(ld_x(base + yHi * ${u32(W)} + xLo, c), ld_x(base + yHi * ${u32(W)} + xHi, c), xF);
  st_y(m, c, mix(top, bottom, yF));`}
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args: [
    { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }] }];
}
