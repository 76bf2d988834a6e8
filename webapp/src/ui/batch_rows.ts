// A batch job's per-file outcomes as a virtualised list of one-line rows: every outcome lives
// in an array, only the rows in and near the viewport are in the page (fixed height, placed in
// a spacer as tall as the list), so a job over 100,000 photos keeps a few dozen rows.

import { el } from './dom';
import { percent } from './predictions';

export interface FileOutcome {
  file: string;
  status: 'classified' | 'already done' | 'failed' | 'skipped';
  label: string | null;
  score: number | null;
  reason: string | null;
}

const ROW_HEIGHT = 30;   // px
const OVERSCAN = 10;     // rows rendered above and below the viewport

function detail(o: FileOutcome): string {
  const best = o.label !== null && o.score !== null ? `${o.label} · ${percent(o.score)}` : '';
  if (o.status === 'already done') return o.reason ? `failed before: ${o.reason}` : best;
  return o.reason ?? best;
}

export class OutcomeRows {
  /** The scroller; place it where it can take the remaining height. */
  readonly root = el('section', 'batch-rows');
  private spacer = el('div', 'batch-rows-spacer');
  private window = el('div', 'batch-rows-window');
  private outcomes: FileOutcome[] = [];
  private pendingFrame = 0;

  constructor() {
    this.root.setAttribute('role', 'list');
    this.root.setAttribute('aria-label', 'Files');
    this.root.style.setProperty('--row-height', `${ROW_HEIGHT}px`);
    this.spacer.append(this.window);
    this.root.append(this.spacer);
    this.root.addEventListener('scroll', () => this.schedule());
    new ResizeObserver(() => this.render()).observe(this.root);
  }

  add(more: FileOutcome[]): void {
    if (!more.length) return;
    this.outcomes.push(...more);
    this.schedule();
  }

  clear(): void {
    this.outcomes = [];
    this.render();
  }

  private schedule(): void {
    if (this.pendingFrame) return;
    this.pendingFrame = requestAnimationFrame(() => { this.pendingFrame = 0; this.render(); });
  }

  private render(): void {
    this.spacer.style.height = `${this.outcomes.length * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(this.root.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const end = Math.min(this.outcomes.length, Math.ceil((this.root.scrollTop + this.root.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    this.window.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    this.window.replaceChildren(...this.outcomes.slice(first, end).map((o, i) => this.row(o, first + i)));
  }

  private row(o: FileOutcome, index: number): HTMLElement {
    const row = el('div', `batch-row ${o.status.replace(' ', '-')}`);
    row.setAttribute('role', 'listitem');
    row.setAttribute('aria-posinset', String(index + 1));
    row.setAttribute('aria-setsize', String(this.outcomes.length));
    const file = el('span', 'file', o.file);
    file.title = o.file;
    const text = detail(o);
    const why = el('span', 'detail', text);
    why.title = text;
    row.append(el('span', 'outcome', o.status), file, why);
    return row;
  }
}
