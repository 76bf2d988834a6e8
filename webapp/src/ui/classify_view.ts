// The window's classify view: pick, drop or paste photos (or open a folder), see the top-5
// for each as a card, export the results into an output folder.

import { decodeImage } from '../engine/preprocess';
import { CardList } from './card_list';
import { el, errorText } from './dom';
import { chooseWithDialog, droppedFiles, type SourceItem } from './folder_source';
import type { ModelSession } from './model_session';
import { OutputControls } from './output_folder';
import { Progress } from './progress';
import { DownloadControls } from '../static/download_controls';
import { STATIC_SITE } from '../static/deploy';

function fileItem(file: File): SourceItem {
  return { name: file.name, image: URL.createObjectURL(file), bytes: async () => file };
}

export async function showClassifyView(root: HTMLElement, session: ModelSession): Promise<void> {
  root.replaceChildren();
  const header = el('header');
  const status = el('span', 'status');
  session.onStatus((s) => { status.textContent = s; });
  const pick = el('label', 'button', 'Choose photos…');
  const input = el('input');
  input.type = 'file';
  input.multiple = true;
  input.accept = 'image/*';
  pick.append(input);
  const openFolder = el('button', 'button', 'Open folder…');
  const copyAll = el('button', 'button', 'Copy all');
  const clear = el('button', 'button', 'Clear');
  clear.title = 'Remove every result and stop the photos still waiting';
  header.append(session.picker(), pick, openFolder, copyAll, clear, status);
  const progress = new Progress();
  const drop = el('section', 'drop', 'Drop photos or folders here, or paste an image');
  const notice = el('p', 'notice');
  notice.setAttribute('role', 'status');
  const say = (message: string): void => { notice.textContent = message; };
  const cards = new CardList(say);
  // A static site has no shell: no folder dialogs, and results are downloaded instead.
  openFolder.hidden = STATIC_SITE;
  const outputs = STATIC_SITE ? new DownloadControls(() => cards.finished(), say) : new OutputControls(() => cards.finished(), say);
  root.append(header, outputs.root, progress.root, drop, notice, cards.root);

  let queue: Promise<void> = Promise.resolve();     // batches run one after another
  let generation = 0;                               // Clear starts a new one; older work stops

  async function run(items: SourceItem[], mine: number): Promise<void> {
    if (mine !== generation) return;
    const entries = cards.add(items);
    progress.start(items.length);
    for (const [i, item] of items.entries()) {
      if (mine !== generation) return;
      const t0 = performance.now();
      try {
        const bitmap = await decodeImage(await item.bytes());
        try {
          const { top, backend, model } = await session.classify(bitmap, 5);
          cards.show(entries[i], { top, backend, model, ms: performance.now() - t0 });
        } finally {
          bitmap.close();
        }
      } catch (e) {
        cards.show(entries[i], { error: errorText(e) });
      }
      progress.step();
    }
  }

  function classify(items: SourceItem[]): void {
    const mine = generation;
    if (items.length) queue = queue.then(() => run(items, mine));
  }

  input.addEventListener('change', () => { if (input.files) classify([...input.files].map(fileItem)); input.value = ''; });
  openFolder.addEventListener('click', async () => {
    try {
      const items = await chooseWithDialog('folder');
      if (items === null) say('No folder dialog is available here: drop a folder onto the window instead.');
      else classify(items);
    } catch (e) {
      say(errorText(e));
    }
  });
  copyAll.addEventListener('click', () => void cards.copy());
  clear.addEventListener('click', () => {
    generation += 1;
    cards.clear();
    progress.reset();
    say('');
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) classify((await droppedFiles(e.dataTransfer)).map(fileItem));
  });
  document.addEventListener('paste', (e) => {
    if (e.clipboardData && !root.hidden) classify([...e.clipboardData.files].map(fileItem));
  });
  await outputs.restore();
}
