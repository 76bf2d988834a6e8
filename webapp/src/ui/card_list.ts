// The result cards as a virtualised grid. Every result lives in the model (`entries`); only the
// rows in and near the viewport have DOM nodes, placed inside a spacer as tall as the whole
// list, so a folder of 10,000 photos costs a few dozen cards. Selection, keyboard moves and
// copying work on the model, so they reach every entry, on screen or not.

import type { Prediction } from '../engine/topk';
import { el, errorText } from './dom';
import { percent, predictionList } from './predictions';

export interface CardResult { top?: Prediction[]; backend?: string; model?: string; ms?: number; error?: string }
export interface CardEntry { readonly name: string; readonly image: string; result?: CardResult }

const CARD_MIN_WIDTH = 360;   // px; as many columns as fit at least this wide
const CARD_HEIGHT = 172;      // px; fixed, so any entry's position is known without layout
const GAP = 16;
const ROW = CARD_HEIGHT + GAP;
const PAD = 16;               // around the grid, inside the scroller
const OVERSCAN_ROWS = 2;      // rendered above and below the viewport, for smooth scrolling

export class CardList {
  /** The scroller; place it where it can take the remaining height. */
  readonly root = el('section', 'cards');
  private spacer = el('div', 'cards-spacer');
  private grid = el('div', 'cards-grid');
  private entries: CardEntry[] = [];
  private nodes = new Map<CardEntry, HTMLElement>();
  private selected: CardEntry | null = null;
  private columns = 1;
  private pendingFrame = 0;

  constructor(private say: (message: string) => void) {
    this.root.setAttribute('role', 'list');
    this.root.setAttribute('aria-label', 'Results');
    this.root.tabIndex = -1;     // keeps keyboard focus when the focused card scrolls away
    this.root.style.setProperty('--card-height', `${CARD_HEIGHT}px`);
    this.root.style.setProperty('--card-gap', `${GAP}px`);
    this.root.style.setProperty('--cards-pad', `${PAD}px`);
    this.spacer.append(this.grid);
    this.root.append(this.spacer);
    this.root.addEventListener('keydown', (e) => this.onKey(e));
    this.root.addEventListener('scroll', () => this.scheduleRender());
    new ResizeObserver(() => this.layout()).observe(this.root);
  }

  /** Put a batch at the top of the list, in its own order; returns its entries. */
  add(items: { name: string; image: string }[]): CardEntry[] {
    const added: CardEntry[] = items.map((i) => ({ name: i.name, image: i.image }));
    this.entries = [...added, ...this.entries];
    this.root.scrollTop = 0;
    this.layout();
    return added;
  }

  /** Record a result; the card is redrawn only if it is on screen. */
  show(entry: CardEntry, result: CardResult): void {
    entry.result = result;
    const card = this.nodes.get(entry);
    if (card) this.fillBody(card, entry);
  }

  clear(): void {
    this.entries = [];
    this.selected = null;
    this.layout();
  }

  /** The finished entries (a result or an error), in list order. */
  finished(): CardEntry[] {
    return this.entries.filter((e) => e.result);
  }

  /** Tab-separated lines: file, then label and score for each of the top classes. */
  text(entries: CardEntry[]): string {
    return entries.map((e) => {
      const r = e.result!;
      if (r.error) return `${e.name}\terror: ${r.error}`;
      return [e.name, ...(r.top ?? []).map((p) => `${p.label}\t${percent(p.score)}`)].join('\t');
    }).join('\n');
  }

  /** Copies the finished ones of `entries` and says so; a refused clipboard is said, not thrown. */
  async copy(entries: CardEntry[] = this.entries): Promise<void> {
    const done = entries.filter((e) => e.result);
    try {
      await navigator.clipboard.writeText(this.text(done));
      this.say(`Copied ${done.length} result${done.length === 1 ? '' : 's'}.`);
    } catch (e) {
      this.say(`Could not copy: ${errorText(e)}`);
    }
  }

  private layout(): void {
    const width = this.root.clientWidth - 2 * PAD;
    this.columns = Math.max(1, Math.floor((width + GAP) / (CARD_MIN_WIDTH + GAP)));
    const rows = Math.ceil(this.entries.length / this.columns);
    this.spacer.style.height = `${rows ? rows * ROW - GAP + 2 * PAD : 0}px`;
    this.grid.style.gridTemplateColumns = `repeat(${this.columns}, minmax(0, 1fr))`;
    this.render();
  }

  private scheduleRender(): void {
    if (this.pendingFrame) return;
    this.pendingFrame = requestAnimationFrame(() => { this.pendingFrame = 0; this.render(); });
  }

  /** Create the cards of the rows near the viewport, drop the others. */
  private render(): void {
    const top = this.root.scrollTop - PAD;
    const firstRow = Math.max(0, Math.floor(top / ROW) - OVERSCAN_ROWS);
    const endRow = Math.ceil((top + this.root.clientHeight) / ROW) + OVERSCAN_ROWS;
    const start = firstRow * this.columns;
    const visible = this.entries.slice(start, endRow * this.columns);
    this.grid.style.transform = `translateY(${firstRow * ROW}px)`;
    const hadFocus = this.root.contains(document.activeElement);
    const nodes = new Map<CardEntry, HTMLElement>();
    visible.forEach((entry, i) => {
      const card = this.nodes.get(entry) ?? this.createCard(entry);
      card.setAttribute('aria-posinset', String(start + i + 1));
      card.setAttribute('aria-setsize', String(this.entries.length));
      card.classList.toggle('selected', entry === this.selected);
      card.tabIndex = entry === this.selected || (!this.selected && start + i === 0) ? 0 : -1;
      nodes.set(entry, card);
    });
    // Touch the DOM only when the set of cards changed: moving the focused card would blur it.
    const order = [...nodes.values()];
    if (order.length !== this.grid.children.length || order.some((c, i) => this.grid.children[i] !== c)) {
      this.grid.replaceChildren(...order);
    }
    this.nodes = nodes;
    if (hadFocus && !this.root.contains(document.activeElement)) this.root.focus({ preventScroll: true });
  }

  private createCard(entry: CardEntry): HTMLElement {
    const card = el('article', 'card');
    card.setAttribute('role', 'listitem');
    const img = el('img');
    img.decoding = 'async';
    img.src = entry.image;
    img.alt = entry.name;
    const body = el('div', 'body');
    card.append(img, body);
    card.addEventListener('focus', () => this.select(entry, false));
    this.fillBody(card, entry);
    return card;
  }

  private fillBody(card: HTMLElement, entry: CardEntry): void {
    const body = card.querySelector('.body')!;
    const title = el('h2', '', entry.name);
    title.title = entry.name;
    const r = entry.result;
    if (!r) { body.replaceChildren(title); return; }
    if (r.error) { body.replaceChildren(title, el('p', 'error', r.error)); return; }
    const copy = el('button', 'copy', 'Copy');
    copy.title = 'Copy this result (C)';
    copy.addEventListener('click', () => void this.copy([entry]));
    const meta = el('p', 'meta', `${r.backend} · ${r.ms?.toFixed(0)} ms`);
    meta.append(copy);
    body.replaceChildren(title, predictionList(r.top ?? []), meta);
  }

  /** Select an entry; with focus, scroll it into view and focus its card. */
  private select(entry: CardEntry, focus: boolean): void {
    if (this.selected === entry && !focus) return;
    this.selected = entry;
    if (focus) {
      const row = Math.floor(this.entries.indexOf(entry) / this.columns);
      const top = PAD + row * ROW;
      const view = this.root.clientHeight;
      if (top < this.root.scrollTop) this.root.scrollTop = top - PAD;
      else if (top + CARD_HEIGHT > this.root.scrollTop + view) this.root.scrollTop = top + CARD_HEIGHT + PAD - view;
    }
    this.render();
    if (focus) this.nodes.get(entry)?.focus({ preventScroll: true });
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.entries.length || e.target instanceof HTMLButtonElement) return;
    const at = this.selected ? this.entries.indexOf(this.selected) : 0;
    const page = Math.max(1, Math.floor(this.root.clientHeight / ROW)) * this.columns;
    const moves: Record<string, number> = {
      ArrowRight: at + 1, ArrowLeft: at - 1, ArrowDown: at + this.columns, ArrowUp: at - this.columns,
      PageDown: at + page, PageUp: at - page, Home: 0, End: this.entries.length - 1,
    };
    if (e.key in moves) {
      e.preventDefault();
      this.select(this.entries[Math.min(this.entries.length - 1, Math.max(0, moves[e.key]))], true);
    } else if ((e.key === 'c' || e.key === 'C') && !e.ctrlKey && !e.metaKey) {
      void this.copy([this.entries[at]]);
    }
  }
}
