// The preview's stage: the WebGPU canvas the renderer draws into, shown fitted to the stage and
// zoomed and panned by a CSS transform (wheel zooms about the pointer, drag pans, double-click
// fits), with the before/after split line drawn over it. The pixels themselves, the split
// included, come from the canvas output's render pass; the line only marks where it is.

import { el } from './dom';

const MIN_ZOOM = 0.1;
const MAX_ZOOM = 16;

export class StylePreview {
  readonly root = el('div', 'style-stage');
  readonly canvas = el('canvas', 'style-canvas');
  readonly message = el('p', 'message');
  private readonly layer = el('div', 'style-layer');
  private readonly line = el('div', 'style-split');
  private zoom = 1;
  private pan = { x: 0, y: 0 };

  constructor() {
    this.canvas.setAttribute('aria-label', 'Stylised preview');
    this.message.setAttribute('role', 'status');
    this.line.hidden = true;
    this.layer.append(this.canvas, this.line);
    this.root.append(this.layer, this.message);
    this.root.addEventListener('wheel', (e) => { e.preventDefault(); this.zoomAbout(e.deltaY < 0 ? 1.2 : 1 / 1.2, e); }, { passive: false });
    this.root.addEventListener('dblclick', () => this.fit());
    this.root.addEventListener('pointerdown', (e) => this.drag(e));
    new ResizeObserver(() => this.fit()).observe(this.root);
  }

  /** The GPU context of the canvas, or null where the browser has no WebGPU canvases. */
  context(): GPUCanvasContext | null {
    return this.canvas.getContext('webgpu');
  }

  /** The canvas takes the preview image's size (the network's output is drawn 1:1). */
  setSize(width: number, height: number): void {
    if (this.canvas.width === width && this.canvas.height === height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.fit();
  }

  /** Shows a sentence instead of the picture (null: the picture). */
  say(text: string | null): void {
    this.message.textContent = text ?? '';
    this.message.hidden = text === null;
    this.layer.hidden = text !== null;
  }

  /** The split line at this fraction of the picture's width (0: no split). */
  setSplit(fraction: number): void {
    this.line.hidden = fraction <= 0;
    this.line.style.left = `${fraction * 100}%`;
  }

  /** Whole picture centred in the stage. */
  fit(): void {
    const { clientWidth: w, clientHeight: h } = this.root;
    if (!w || !h || !this.canvas.width) return;
    this.zoom = Math.min(w / this.canvas.width, h / this.canvas.height, 4);
    this.pan = { x: (w - this.canvas.width * this.zoom) / 2, y: (h - this.canvas.height * this.zoom) / 2 };
    this.apply();
  }

  zoomBy(factor: number): void {
    const r = this.root.getBoundingClientRect();
    this.zoomAbout(factor, { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 });
  }

  private zoomAbout(factor: number, at: { clientX: number; clientY: number }): void {
    const r = this.root.getBoundingClientRect();
    const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.zoom * factor));
    const [px, py] = [at.clientX - r.left, at.clientY - r.top];
    // Keep the picture's point under the pointer where it is.
    this.pan = { x: px - (px - this.pan.x) * next / this.zoom, y: py - (py - this.pan.y) * next / this.zoom };
    this.zoom = next;
    this.apply();
  }

  private drag(start: PointerEvent): void {
    if (start.button !== 0) return;
    const from = { ...this.pan };
    this.root.setPointerCapture(start.pointerId);
    this.root.classList.add('panning');
    const move = (e: PointerEvent) => {
      this.pan = { x: from.x + e.clientX - start.clientX, y: from.y + e.clientY - start.clientY };
      this.apply();
    };
    const end = () => {
      this.root.classList.remove('panning');
      this.root.removeEventListener('pointermove', move);
    };
    this.root.addEventListener('pointermove', move);
    this.root.addEventListener('pointerup', end, { once: true });
    this.root.addEventListener('pointercancel', end, { once: true });
  }

  private apply(): void {
    this.layer.style.width = `${this.canvas.width}px`;
    this.layer.style.height = `${this.canvas.height}px`;
    this.layer.style.transform = `translate(${this.pan.x}px, ${this.pan.y}px) scale(${this.zoom})`;
    this.canvas.classList.toggle('pixelated', this.zoom > 2);
  }
}
