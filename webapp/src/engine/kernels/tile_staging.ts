// Staging a tile from global into workgroup memory through registers, so that every thread's
// loads are in flight together (and the next step's can be while this one's are used):
// loading and storing one element at a time would wait out a memory latency per element.

import { u32 } from './common';

/** WGSL staging a `rows`×`cols` tile through ⌈rows·cols / threads⌉ registers a thread (`reg`0…):
 *  `load(k)` reads the tile at offset k into them, `store` puts them into workgroup memory.
 *  `element(r, c, k)` reads one element; `place(r, c, value)` stores one. Consecutive threads
 *  take consecutive elements along `cols` when `colsFast`, else along `rows`. */
export function stageTile(rows: number, cols: number, threads: number, colsFast: boolean, reg: string,
  element: (r: string, c: string, k: string) => string, place: (r: string, c: string, value: string) => string) {
  const total = rows * cols;
  const per = Math.ceil(total / threads);
  const exact = per * threads === total;
  const at = (j: number) => {
    // Past the tile's end (when threads don't divide it) a thread reads the last element again.
    const idx = exact ? `(${u32(j * threads)} + lid)` : `min(${u32(j * threads)} + lid, ${u32(total - 1)})`;
    return colsFast ? [`${idx} / ${u32(cols)}`, `${idx} % ${u32(cols)}`] : [`${idx} % ${u32(rows)}`, `${idx} / ${u32(rows)}`];
  };
  const guard = (j: number, code: string) =>
    (exact || (j + 1) * threads <= total ? code : `if (${u32(j * threads)} + lid < ${u32(total)}) { ${code} }`);
  const slots = [...Array(per).keys()];
  return {
    declare: slots.map((j) => `var ${reg}${j} = 0.0;`).join(' '),
    load: (k: string) => slots.map((j) => `
    { let r = ${at(j)[0]}; let c = ${at(j)[1]}; ${reg}${j} = ${element('r', 'c', k)}; }`).join(''),
    store: slots.map((j) => `
    { let r = ${at(j)[0]}; let c = ${at(j)[1]}; ${guard(j, place('r', 'c', `${reg}${j}`))} }`).join(''),
  };
}
