// The virtual im2col matrix of an implicit-GEMM conv (conv2d.ts, conv2d_int8.ts): rows are output
// pixels, K runs over taps × input channels. Each thread stages the same output pixels of the A
// tile at every K step, so their coordinates are worked out once, before the K loop, into
// private variables (one fetch function then serves the prologue and the loop): pm<r> (the row),
// pv<r> (inside M) and, unless the conv is a 1×1 stride-1 one (a plain GEMM), pb<r> (the first
// input row of its image), py<r> and px<r> (its top-left tap, padding subtracted).

import { u32, type windowGeometry } from './common';

type Geometry = ReturnType<typeof windowGeometry>;

/** A further per-pixel private a kernel needs (named `${name}${r}`), from the pixel's row `pm`. */
export interface PixelExtra { name: string; type: string; value: (pm: string) => string }

/** WGSL declaring and setting the private coordinates of a thread's `count` staged pixels;
 *  pixel r is row `m0 + pixelOf(r)` of the M rows. */
export function stagedPixels(count: number, pixelOf: (r: number) => string, M: number, g: Geometry, pointwise: boolean,
  extras: PixelExtra[] = []): { privates: string; setup: string } {
  const vars = [['pm', 'u32'], ['pv', 'bool'], ...(pointwise ? [] : [['pb', 'u32'], ['py', 'i32'], ['px', 'i32']]),
    ...extras.map((e) => [e.name, e.type])];
  const pixels = [...Array(count).keys()];
  const privates = pixels.map((r) => vars.map(([n, t]) => `var<private> ${n}${r}: ${t};`).join(' ')).join('\n');
  const setup = pixels.map((r) => `
  pm${r} = m0 + ${pixelOf(r)};
  pv${r} = pm${r} < ${u32(M)};${pointwise ? '' : `
  pb${r} = (pm${r} / ${u32(g.OH * g.OW)}) * ${u32(g.H * g.W)};
  py${r} = i32(((pm${r} % ${u32(g.OH * g.OW)}) / ${u32(g.OW)}) * ${u32(g.SH)}) - ${g.PT};
  px${r} = i32((pm${r} % ${u32(g.OW)}) * ${u32(g.SW)}) - ${g.PL};`}${extras.map((e) => `
  ${e.name}${r} = ${e.value(`pm${r}`)};`).join('')}`).join('');
  return { privates, setup };
}

/** WGSL for staged pixel p at tap-and-channel `k` (of `channels` channels a tap): runs
 *  `statement`, which may use `row` (the input pixel's row) and `ci` (its channel), when the tap
 *  lands inside the image; nothing on padding. */
export function tapRead(p: number, channels: number, g: Geometry, statement: string): string {
  return `
        let tap = k / ${u32(channels)}; let ci = k % ${u32(channels)};
        let iy = py${p} + i32((tap / ${u32(g.KW)}) * ${u32(g.DH)});
        let ix = px${p} + i32((tap % ${u32(g.KW)}) * ${u32(g.DW)});
        if (iy >= 0 && iy < ${g.H} && ix >= 0 && ix < ${g.W}) {
          let row = pb${p} + u32(iy) * ${u32(g.W)} + u32(ix);
          ${statement}
        }`;
}
