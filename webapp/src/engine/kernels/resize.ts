// resize {mode: nearest|linear, coordinate_transformation_mode, nearest_mode, scales} over H, W
// of NHWC, ONNX Resize semantics: one thread per output pixel and vec4 of channels. Source
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
  return `let ${name}S = clamp(${coord}, 0.0, ${f32(inLen - 1)});
  let ${name}Lo = u32(floor(${name}S));
  let ${name}Hi = min(${name}Lo + 1u, ${u32(inLen - 1)});
  let ${name}F = ${name}S - floor(${name}S);`;
}

export function resize(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  if (a.mode !== 'nearest' && a.mode !== 'linear') throw new Error(`resize: mode ${a.mode} has no kernel`);
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const [, OH, OW] = ctx.shape(op.outputs[0]);
  const [sy, sx] = a.scales as number[];
  const C4 = pad4(C) / 4;
  const total = N * OH * OW * C4;
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  const source = `
${inOutRows(x, y)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${pixelVec4Index(THREADS, total, C4)}
  let base = (m / ${u32(OH * OW)}) * ${u32(H * W)};
  let p = m % ${u32(OH * OW)};
  var o = f32(p / ${u32(OW)});
  ${axis('y', a, OH, H, sy)}
  o = f32(p % ${u32(OW)});
  ${axis('x', a, OW, W, sx)}
  ${a.mode === 'nearest' ? `st_y(m, c, ld_x(base + yLo * ${u32(W)} + xLo, c));` : `let top = mix(ld_x(base + yLo * ${u32(W)} + xLo, c), ld_x(base + yLo * ${u32(W)} + xHi, c), xF);
  let bottom = mix(ld_x(base + yHi * ${u32(W)} + xLo, c), ld_x(base + yHi * ${u32(W)} + xHi, c), xF);
  st_y(m, c, mix(top, bottom, yF));`}
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args: [
    { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }] }];
}
