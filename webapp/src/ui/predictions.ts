// A top-k list: label, percentage and a bar per class (on the result cards and the camera).

import type { Prediction } from '../engine/topk';
import { el } from './dom';

export function percent(score: number): string {
  return `${(score * 100).toFixed(1)}%`;
}

export function predictionList(top: Prediction[], cls = ''): HTMLOListElement {
  const list = el('ol', cls);
  for (const p of top) {
    const li = el('li');
    const bar = el('span', 'bar');
    bar.style.width = percent(p.score);
    const label = el('span', 'label', p.label);
    label.title = p.label;
    li.append(label, el('span', 'score', percent(p.score)), bar);
    list.append(li);
  }
  return list;
}
