// The style editor's editing state (photo, style mix, image styles and their blend, strength,
// colours, resolution), its undo/redo history, and the copy kept in localStorage so the next launch starts where the
// last one stopped. View-only settings (split line, zoom, pan) are not part of it.

export const STYLE_COUNT = 26;

export interface StylePhoto {
  name: string;
  /** Where the page fetches it: `files/<grant>` of a photo chosen in the dialog; null for a
   *  dropped or picked file, which can't be opened again after a reload. */
  url: string | null;
}

/** A style given as an image (the arbitrary-style pair): its name and, as for photos, where
 *  the page fetches it (null: dropped or picked, readable this session only). */
export interface ImageStyle { id: string; name: string; url: string | null }

export interface StyleState {
  photo: StylePhoto | null;
  weights: number[];            // multistyle26's 26 style weights as the sliders show them, 0..1
  imageStyles: ImageStyle[];    // the style images added to the gallery
  imageWeights: number[];       // one per image style, 0..1, as the sliders show them
  useImages: boolean;           // the preview uses the image styles' blend, not multistyle26
  /** The share of the photo's own style vector in the image styles' blend (0..1): Magenta's
   *  interpolation with the content image's style, a strength acting inside the network. */
  photoStyle: number;
  strength: number;             // 0: the original, 1: fully stylised
  preserveColours: boolean;
  resolution: number;           // the longer side of the exported image; 0: the photo's own
}

export const DEFAULT_STATE: StyleState = {
  photo: null, weights: oneStyle(0), imageStyles: [], imageWeights: [], useImages: false, photoStyle: 0,
  strength: 1, preserveColours: false, resolution: 0,
};

export function oneStyle(index: number): number[] {
  return Array.from({ length: STYLE_COUNT }, (_, i) => (i === index ? 1 : 0));
}

/** The weights the network gets: the sliders' values scaled to sum to 1. */
export function normalisedWeights(weights: number[]): Float32Array {
  const total = weights.reduce((a, b) => a + b, 0);
  return Float32Array.from(weights, (w) => (total > 0 ? w / total : 0));
}

/** For metadata and file names: "style-3", or "style-3 60%, style-7 40%"; image styles by
 *  their file's name without its extension, with the photo's own style's share when it has one. */
export function describeStyle(state: StyleState, names: string[]): string {
  const [weights, labels] = state.useImages
    ? [state.imageWeights, state.imageStyles.map((s) => s.name.replace(/\.[^.]*$/, ''))] : [state.weights, names];
  const shares = [...normalisedWeights(weights)].map((w, i) => ({ name: labels[i] ?? `style-${i}`, w })).filter((s) => s.w > 0);
  const mix = shares.length === 1 ? shares[0].name : shares.map((s) => `${s.name} ${Math.round(s.w * 100)}%`).join(', ');
  return state.useImages && state.photoStyle > 0
    ? `${mix} with the photo's own style ${Math.round(state.photoStyle * 100)}%` : mix;
}

/** The state without these image styles (unreadable now); the built-in styles when none of
 *  the mix is left. */
export function withoutImageStyles(state: StyleState, ids: Set<string>): StyleState {
  const keep = state.imageStyles.map((s) => !ids.has(s.id));
  const imageWeights = state.imageWeights.filter((_, i) => keep[i]);
  return {
    ...state, imageStyles: state.imageStyles.filter((_, i) => keep[i]), imageWeights,
    useImages: state.useImages && imageWeights.some((w) => w > 0),
  };
}

const fraction = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;

const STORAGE_KEY = 'tessera.style-editor';

/** The state saved by the last session, checked field by field (anything odd → the default). */
export function loadSavedState(): StyleState {
  let saved: Partial<StyleState> = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') as Partial<StyleState>;
  } catch { /* unreadable: start afresh */ }
  const weights = Array.isArray(saved.weights) && saved.weights.length === STYLE_COUNT
    && saved.weights.every((w) => typeof w === 'number' && w >= 0 && w <= 1) && saved.weights.some((w) => w > 0)
    ? saved.weights : DEFAULT_STATE.weights;
  const photo = saved.photo && typeof saved.photo.name === 'string'
    && (saved.photo.url === null || typeof saved.photo.url === 'string') ? saved.photo : null;
  const imageStyles = Array.isArray(saved.imageStyles) ? saved.imageStyles.filter((s) => typeof s?.id === 'string'
    && typeof s.name === 'string' && (s.url === null || typeof s.url === 'string')) : [];
  const imageWeights = Array.isArray(saved.imageWeights) && saved.imageWeights.length === imageStyles.length
    && saved.imageWeights.every(fraction) ? saved.imageWeights : imageStyles.map(() => 0);
  return {
    photo,
    weights,
    imageStyles,
    imageWeights,
    useImages: saved.useImages === true && imageWeights.some((w) => w > 0),
    photoStyle: fraction(saved.photoStyle) ? saved.photoStyle : 0,
    strength: typeof saved.strength === 'number' && saved.strength >= 0 && saved.strength <= 1 ? saved.strength : 1,
    preserveColours: saved.preserveColours === true,
    resolution: typeof saved.resolution === 'number' && saved.resolution >= 0 ? saved.resolution : 0,
  };
}

function save(state: StyleState): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch { /* storage full or refused: the state just won't survive a restart */ }
}

/** Every committed edit, undoable and redoable; each change is saved at once. */
export class EditHistory {
  private past: StyleState[] = [];
  private future: StyleState[] = [];

  constructor(private current: StyleState, private onChange: (state: StyleState) => void) {}

  get state(): StyleState { return this.current; }
  get canUndo(): boolean { return this.past.length > 0; }
  get canRedo(): boolean { return this.future.length > 0; }

  /** Changes the state without an undo step (image styles found unreadable at start). */
  amend(change: Partial<StyleState>): void {
    this.set({ ...this.current, ...change });
  }

  /** A new state from an edit (a no-op edit adds no step). */
  commit(change: Partial<StyleState>): void {
    const next = { ...this.current, ...change };
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.past.push(this.current);
    this.future = [];
    this.set(next);
  }

  undo(): void {
    const previous = this.past.pop();
    if (!previous) return;
    this.future.push(this.current);
    this.set(previous);
  }

  redo(): void {
    const next = this.future.pop();
    if (!next) return;
    this.past.push(this.current);
    this.set(next);
  }

  private set(state: StyleState): void {
    this.current = state;
    save(state);
    this.onChange(state);
  }
}
