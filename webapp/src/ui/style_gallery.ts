// The built-in styles as a gallery (a thumbnail each when the package has them, else the
// style's name), and the mix: a slider per style in it. Clicking a tile uses that style alone;
// its "+" adds it to the mix. Sliders preview while dragged and commit when let go.

import { el } from './dom';

export interface GalleryEvents {
  /** A committed change of the weights (one undo step). */
  commit(weights: number[]): void;
  /** Weights while a slider is dragged (preview only). */
  preview(weights: number[]): void;
}

const ADDED_WEIGHT = 0.5;

export class StyleGallery {
  readonly root = el('div', 'style-styles');
  private readonly tiles: HTMLElement[];
  private readonly mix = el('div', 'style-mix');
  private weights: number[] = [];

  constructor(private names: string[], thumbnails: string[] | null, private events: GalleryEvents) {
    const grid = el('div', 'style-gallery');
    grid.setAttribute('role', 'listbox');
    grid.setAttribute('aria-label', 'Styles');
    this.tiles = names.map((name, i) => {
      const tile = el('div', 'style-tile');
      tile.setAttribute('role', 'option');
      tile.tabIndex = 0;
      tile.title = `${name}: click to use it alone, + to add it to the mix`;
      const pick = el('button', 'style-pick');
      pick.setAttribute('aria-label', name);
      if (thumbnails?.[i]) {
        const img = el('img');
        img.src = thumbnails[i];
        img.alt = '';
        pick.append(img);
      } else {
        pick.style.setProperty('--hue', String(Math.round(i * 360 / names.length)));
      }
      pick.append(el('span', 'style-name', name));
      pick.addEventListener('click', () => this.events.commit(names.map((_, j) => (j === i ? 1 : 0))));
      const add = el('button', 'style-add', '+');
      add.setAttribute('aria-label', `Add ${name} to the mix`);
      add.addEventListener('click', () => {
        if (this.weights[i] > 0) return;
        this.events.commit(this.weights.map((w, j) => (j === i ? ADDED_WEIGHT : w)));
      });
      tile.append(pick, add);
      grid.append(tile);
      return tile;
    });
    this.root.append(this.mix, grid);
  }

  /** Shows these weights (from the editing state). */
  show(weights: number[]): void {
    this.weights = [...weights];
    this.tiles.forEach((t, i) => {
      t.classList.toggle('chosen', weights[i] > 0);
      t.setAttribute('aria-selected', String(weights[i] > 0));
    });
    const inMix = weights.map((w, i) => ({ w, i })).filter((s) => s.w > 0);
    this.mix.replaceChildren();
    this.mix.hidden = inMix.length < 2;
    if (inMix.length < 2) return;
    this.mix.append(el('span', 'meta', 'Mix'));
    for (const { w, i } of inMix) {
      const row = el('label', 'style-mix-row');
      const slider = el('input');
      slider.type = 'range';
      slider.min = '0.05';
      slider.max = '1';
      slider.step = '0.05';
      slider.value = String(w);
      slider.setAttribute('aria-label', `Weight of ${this.names[i]}`);
      const withValue = () => this.weights.map((v, j) => (j === i ? Number(slider.value) : v));
      slider.addEventListener('input', () => this.events.preview(withValue()));
      slider.addEventListener('change', () => this.events.commit(withValue()));
      const remove = el('button', 'chip-remove', '×');
      remove.setAttribute('aria-label', `Remove ${this.names[i]} from the mix`);
      remove.addEventListener('click', (e) => {
        e.preventDefault();
        this.events.commit(this.weights.map((v, j) => (j === i ? 0 : v)));
      });
      row.append(el('span', 'style-mix-name', this.names[i]), slider, remove);
      this.mix.append(row);
    }
  }
}
