// The styles as a gallery: the built-in ones (a thumbnail each when the package has them, else
// the style's name) followed by the style images the user added (their own picture), and the
// mix: a slider per style in it. Clicking a tile uses that style alone; its "+" adds it to the
// mix. Built-in and image styles are different networks, so a mix holds one kind: "+" on a tile
// of the other kind uses it alone. Sliders preview while dragged and commit when let go.
//
// Weights are one list over all tiles, built-in ones first.

import { el } from './dom';

export interface GalleryEvents {
  /** A committed change of the weights (one undo step). */
  commit(weights: number[]): void;
  /** Weights while a slider is dragged (preview only). */
  preview(weights: number[]): void;
  /** The image style at this index among the image styles is removed from the gallery. */
  remove(imageIndex: number): void;
}

export interface GalleryStyle { name: string; thumbnail: string | null }

const ADDED_WEIGHT = 0.5;

export class StyleGallery {
  readonly root = el('div', 'style-styles');
  private readonly grid = el('div', 'style-gallery');
  private readonly mix = el('div', 'style-mix');
  private readonly builtInTiles: HTMLElement[];
  private imageTiles: HTMLElement[] = [];
  private names: string[];
  private weights: number[] = [];

  constructor(private readonly builtIn: string[], thumbnails: string[] | null, private events: GalleryEvents) {
    this.names = [...builtIn];
    this.grid.setAttribute('role', 'listbox');
    this.grid.setAttribute('aria-label', 'Styles');
    this.builtInTiles = builtIn.map((name, i) => this.tile({ name, thumbnail: thumbnails?.[i] || null }, i, null));
    this.grid.append(...this.builtInTiles);
    this.root.append(this.mix, this.grid);
  }

  /** The added style images, after the built-in tiles. */
  setImageStyles(styles: GalleryStyle[]): void {
    for (const t of this.imageTiles) t.remove();
    this.names = [...this.builtIn, ...styles.map((s) => s.name)];
    this.imageTiles = styles.map((s, k) => this.tile(s, this.builtIn.length + k, k));
    this.grid.append(...this.imageTiles);
  }

  private isImage(i: number): boolean { return i >= this.builtIn.length; }

  private tile(style: GalleryStyle, i: number, imageIndex: number | null): HTMLElement {
    const { name } = style;
    const tile = el('div', imageIndex === null ? 'style-tile' : 'style-tile image-style');
    tile.setAttribute('role', 'option');
    tile.tabIndex = 0;
    tile.title = `${name}: click to use it alone, + to add it to the mix`;
    const pick = el('button', 'style-pick');
    pick.setAttribute('aria-label', name);
    if (style.thumbnail) {
      const img = el('img');
      img.src = style.thumbnail;
      img.alt = '';
      pick.append(img);
    } else {
      pick.style.setProperty('--hue', String(Math.round(i * 360 / this.builtIn.length)));
    }
    pick.append(el('span', 'style-name', name));
    pick.addEventListener('click', () => this.events.commit(this.alone(i)));
    const add = el('button', 'style-add', '+');
    add.setAttribute('aria-label', `Add ${name} to the mix`);
    add.addEventListener('click', () => {
      if (this.weights[i] > 0) return;
      const sameKind = this.weights.some((w, j) => w > 0 && this.isImage(j) === this.isImage(i));
      this.events.commit(sameKind ? this.weights.map((w, j) => (j === i ? ADDED_WEIGHT : w)) : this.alone(i));
    });
    tile.append(pick, add);
    if (imageIndex !== null) {
      const remove = el('button', 'style-remove', '×');
      remove.setAttribute('aria-label', `Remove ${name} from the styles`);
      remove.addEventListener('click', () => this.events.remove(imageIndex));
      tile.append(remove);
    }
    return tile;
  }

  private alone(i: number): number[] {
    return this.names.map((_, j) => (j === i ? 1 : 0));
  }

  /** Shows these weights (from the editing state), one per tile. */
  show(weights: number[]): void {
    this.weights = [...weights];
    [...this.builtInTiles, ...this.imageTiles].forEach((t, i) => {
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
