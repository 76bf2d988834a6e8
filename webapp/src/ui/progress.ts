// A progress bar with a count and an ETA, shown only for work that takes more than a moment.

import { el } from './dom';

const SHOW_AFTER_MS = 1000;

export class Progress {
  readonly root = el('div', 'progress');
  private bar = el('progress');
  private label = el('span');
  private total = 0;
  private done = 0;
  private t0 = 0;

  constructor() {
    this.root.hidden = true;
    this.root.append(this.bar, this.label);
  }

  start(total: number): void {
    this.total += total;
    if (this.done === 0 || this.root.hidden) this.t0 = performance.now();
    this.render();
  }

  step(): void {
    this.done += 1;
    if (this.done >= this.total) { this.reset(); return; }
    this.render();
  }

  reset(): void {
    this.total = this.done = 0;
    this.root.hidden = true;
  }

  private render(): void {
    const elapsed = performance.now() - this.t0;
    this.bar.max = this.total;
    this.bar.value = this.done;
    const eta = this.done ? (elapsed / this.done) * (this.total - this.done) / 1000 : NaN;
    this.label.textContent = `${this.done} / ${this.total}${Number.isFinite(eta) ? ` · about ${Math.ceil(eta)} s left` : ''}`;
    if (elapsed > SHOW_AFTER_MS || this.done > 0) this.root.hidden = false;
  }
}
