// The result cards: one per image, keyboard navigable, copyable. Off-screen cards cost no
// layout or paint (CSS content-visibility), and their thumbnails load only when scrolled to.

import type { Prediction } from '../engine/topk';
import { el } from './dom';

export interface CardResult { name: string; top?: Prediction[]; backend?: string; ms?: number; error?: string }

export class CardList {
  readonly root = el('section', 'cards');
  private results = new Map<HTMLElement, CardResult>();

  constructor(private onCopied: (what: string) => void) {
    this.root.setAttribute('role', 'list');
    this.root.addEventListener('keydown', (e) => this.onKey(e));
  }

  add(name: string, imageSrc: string): HTMLElement {
    const card = el('article', 'card');
    card.tabIndex = 0;
    card.setAttribute('role', 'listitem');
    const img = el('img');
    img.loading = 'lazy';
    img.decoding = 'async';
    img.src = imageSrc;
    img.alt = name;
    const body = el('div', 'body');
    body.append(el('h2', '', name));
    card.append(img, body);
    this.root.prepend(card);
    this.results.set(card, { name });
    return card;
  }

  show(card: HTMLElement, result: CardResult): void {
    this.results.set(card, result);
    const body = card.querySelector('.body')!;
    if (result.error) { body.append(el('p', 'error', result.error)); return; }
    const list = el('ol');
    for (const p of result.top ?? []) {
      const li = el('li');
      const bar = el('span', 'bar');
      bar.style.width = `${(p.score * 100).toFixed(1)}%`;
      li.append(el('span', 'label', p.label), el('span', 'score', `${(p.score * 100).toFixed(1)}%`), bar);
      list.append(li);
    }
    const copy = el('button', 'copy', 'Copy');
    copy.title = 'Copy this result (C)';
    copy.addEventListener('click', () => void this.copy([card]));
    body.append(list, el('p', 'meta', `${result.backend} · ${result.ms?.toFixed(0)} ms`), copy);
  }

  clear(): void {
    this.root.replaceChildren();
    this.results.clear();
  }

  /** Tab-separated lines: file, then label and score for each of the top classes. */
  text(cards: HTMLElement[]): string {
    return cards.map((c) => {
      const r = this.results.get(c)!;
      if (r.error) return `${r.name}\terror: ${r.error}`;
      return [r.name, ...(r.top ?? []).map((p) => `${p.label}\t${(p.score * 100).toFixed(1)}%`)].join('\t');
    }).join('\n');
  }

  async copy(cards: HTMLElement[] = this.cards()): Promise<void> {
    const done = cards.filter((c) => this.results.get(c)?.top || this.results.get(c)?.error);
    await navigator.clipboard.writeText(this.text(done));
    this.onCopied(`Copied ${done.length} result${done.length === 1 ? '' : 's'}.`);
  }

  private cards(): HTMLElement[] {
    return [...this.root.querySelectorAll<HTMLElement>('article.card')];
  }

  private onKey(e: KeyboardEvent): void {
    const cards = this.cards();
    const at = cards.indexOf(document.activeElement as HTMLElement);
    if (at < 0) return;
    const perRow = Math.max(1, Math.round(this.root.clientWidth / cards[0].offsetWidth));
    const moves: Record<string, number> = {
      ArrowRight: at + 1, ArrowLeft: at - 1, ArrowDown: at + perRow, ArrowUp: at - perRow,
      Home: 0, End: cards.length - 1,
    };
    if (e.key in moves) {
      e.preventDefault();
      cards[Math.min(cards.length - 1, Math.max(0, moves[e.key]))].focus();
    } else if (e.key === 'c' || (e.key === 'C' && !e.ctrlKey)) {
      void this.copy([cards[at]]);
    }
  }
}
