// The Batch view: classify whole folders through the shell's batch runner (results store,
// resume, exports, sidecars, sorting, watching), with this page answering its batches over the
// shared model session. Folders and destinations are chosen in the shell's dialogs; only their
// ids go to the shell, which checks them. Start / Pause / Resume / Cancel, progress with rate
// and ETA, every file's outcome in a virtualised list, a summary at the end.

import { runBatchJob } from '../batch/batch_job';
import { batchJobs, type JobOptions, type JobState } from './batch_api';
import { OutcomeRows } from './batch_rows';
import { PauseGate, sessionClassifier, yieldToPage } from './batch_session';
import { countsText, progressText, summaryText } from './batch_summary';
import { el, errorText } from './dom';
import { openDialog, type GrantedFolder } from './folder_source';
import type { ModelSession } from './model_session';
import { OutputFolderChoice } from './output_folder';

const POLL_MS = 400;
const NO_DIALOG = 'batch jobs need folders chosen in the app window’s dialog.';

function checkbox(text: string, checked = false): { root: HTMLLabelElement; input: HTMLInputElement } {
  const root = el('label', 'check');
  const input = el('input');
  input.type = 'checkbox';
  input.checked = checked;
  root.append(input, text);
  return { root, input };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function showBatchView(root: HTMLElement, session: ModelSession): void {
  const header = el('header');
  const picker = session.picker();
  const status = el('span', 'status');
  session.onStatus((s) => { status.textContent = s; });
  header.append(picker, status);

  const notice = el('p', 'notice');
  notice.setAttribute('role', 'status');
  const say = (message: string): void => { notice.textContent = message; };

  // ---- the job's set-up ----
  const setup = el('fieldset', 'batch-setup');
  const folders: GrantedFolder[] = [];
  const folderList = el('span', 'batch-folders');
  const addFolder = el('button', 'button', 'Add folder…');
  addFolder.title = 'Choose a folder of photos to classify';
  const recursive = checkbox('Include subfolders', true);
  const watch = checkbox('Keep watching for new photos');
  const xmp = checkbox('Write XMP sidecars beside the photos');
  const sort = checkbox('Sort into label folders');
  const sortInto = new OutputFolderChoice(say, { button: 'Sort folder…', remember: false, noDialog: NO_DIALOG,
                                                 title: 'Choose the folder that gets a subfolder per label' });
  const sortMode = el('select');
  sortMode.setAttribute('aria-label', 'Copy or move');
  sortMode.append(new Option('copy', 'copy'), new Option('move', 'move'));
  const minScore = el('input');
  minScore.type = 'number';
  minScore.min = '0';
  minScore.max = '100';
  minScore.value = '20';
  minScore.setAttribute('aria-label', 'Minimum score (%)');
  const csv = checkbox('CSV', true);
  const jsonl = checkbox('JSON Lines');
  const exportInto = new OutputFolderChoice(say, { button: 'Output folder…', remember: true, noDialog: NO_DIALOG,
                                                   title: 'Choose the folder the exports are written into' });
  const row = (...parts: (Node | string)[]) => { const r = el('div', 'batch-option'); r.append(...parts); return r; };
  setup.append(
    row(el('span', 'meta', 'Folders'), folderList, addFolder),
    row(recursive.root, watch.root, xmp.root),
    row(sort.root, sortInto.root, sortMode, el('span', 'meta', 'when the best score is at least'), minScore, '%'),
    row(el('span', 'meta', 'Export'), csv.root, jsonl.root, el('span', 'meta', 'into'), exportInto.root),
  );

  // ---- controls, progress, outcomes ----
  const controls = el('div', 'batch-controls');
  const start = el('button', 'button primary', 'Start');
  const pause = el('button', 'button', 'Pause');
  const cancel = el('button', 'button', 'Cancel');
  cancel.title = 'Stop after the batch in flight and write the exports';
  const bar = el('progress');
  const progress = el('span', 'batch-progress');
  progress.setAttribute('aria-live', 'polite');
  controls.append(start, pause, cancel, bar, progress);
  const counts = el('p', 'batch-counts');
  const summary = el('div', 'batch-summary');
  const rows = new OutcomeRows();
  root.append(header, setup, controls, notice, counts, summary, rows.root);

  let current: JobState | null = null;       // the job shown
  let owned = false;                          // this window answers its batches
  const gate = new PauseGate(() => render());

  function renderFolders(): void {
    folderList.replaceChildren(...folders.map((f) => {
      const chip = el('span', 'chip', f.name);
      chip.title = f.path;
      const remove = el('button', 'chip-remove', '×');
      remove.setAttribute('aria-label', `Remove ${f.name}`);
      remove.addEventListener('click', () => { folders.splice(folders.indexOf(f), 1); renderFolders(); });
      chip.append(remove);
      return chip;
    }));
    if (!folders.length) folderList.append(el('span', 'meta', 'none yet'));
  }

  function render(): void {
    const s = current;
    const running = !!s && (s.state === 'running' || s.state === 'stopping');
    setup.disabled = running;
    start.disabled = running;
    pause.disabled = !running || !owned || s?.state === 'stopping';
    cancel.disabled = !running || s?.state === 'stopping';
    pause.textContent = gate.paused ? 'Resume' : 'Pause';
    bar.hidden = !s;
    counts.hidden = !running;      // once it has ended, the summary says the same
    if (!s) return;
    const total = s.progress.total ?? 0;
    bar.max = Math.max(1, total);
    if (s.watching || !total) bar.removeAttribute('value'); else bar.value = Math.min(s.progress.count, total);
    if (!running) bar.value = bar.max;
    const pauseState = !gate.paused ? null : gate.holding ? 'paused' : 'pausing';
    progress.textContent = running ? progressText(s, pauseState) : '';
    counts.textContent = countsText(s.counts);
    summary.replaceChildren();
    if (running) return;
    summary.append(el('p', '', summaryText(s)));
    if (s.error) summary.append(el('p', 'error', s.error));
    if (s.notes_total) {
      const details = el('details');
      details.append(el('summary', '', `${s.notes_total} photo${s.notes_total === 1 ? ' was' : 's were'} left where they were`));
      const list = el('ul');
      list.append(...s.notes.map((n) => el('li', '', n)));
      details.append(list);
      summary.append(details);
    }
  }

  /** Poll the job until it has ended and every outcome is shown. */
  async function follow(job: JobState): Promise<void> {
    current = job;
    rows.clear();
    let since = 0;
    for (;;) {
      try {
        const state = await batchJobs.poll(job.id, since);
        rows.add(state.outcomes);
        since = state.next;
        current = state;
        render();
        if (state.state !== 'running' && state.state !== 'stopping' && since >= state.outcomes_total) break;
      } catch (e) {
        say(`Lost touch with Tessera: ${errorText(e)}. The job goes on if Tessera is still running.`);
      }
      await sleep(POLL_MS);
    }
    owned = false;
    gate.resume();
    render();
  }

  async function options(): Promise<JobOptions | null> {
    if (!folders.length) { say('Add a folder of photos first.'); return null; }
    if (!picker.value) { say('No classification model is installed: import one under Models.'); return null; }
    let sortOption: JobOptions['sort'] = null;
    if (sort.input.checked) {
      const folder = await sortInto.ensure();
      if (!folder) { say('Choose a folder to sort into, or turn sorting off.'); return null; }
      const score = Number(minScore.value);
      if (!(score >= 0 && score <= 100)) { say('The minimum score is a percentage from 0 to 100.'); return null; }
      sortOption = { folder: folder.id, move: sortMode.value === 'move', min_score: score / 100 };
    }
    const formats = [...(csv.input.checked ? ['csv' as const] : []), ...(jsonl.input.checked ? ['jsonl' as const] : [])];
    let exportOption: JobOptions['export'] = null;
    if (formats.length) {
      const folder = await exportInto.ensure();
      if (!folder) { say('Choose an output folder for the exports, or turn them off.'); return null; }
      exportOption = { folder: folder.id, formats };
    }
    return { folders: folders.map((f) => f.id), model: picker.value, recursive: recursive.input.checked,
             watch: watch.input.checked, xmp: xmp.input.checked, sort: sortOption, export: exportOption };
  }

  async function startJob(): Promise<void> {
    const chosen = await options();
    if (!chosen) return;
    const job = await batchJobs.start(chosen);
    say('');
    owned = true;
    const classifier = sessionClassifier(session, job.model);
    const waitTurn = async () => { await yieldToPage(); await gate.wait(); };
    void runBatchJob(classifier, job.page_job, job.top, { waitTurn }).catch(async (e) => {
      say(errorText(e));
      await batchJobs.giveUp(job.id, errorText(e)).catch(() => undefined);
    });
    await follow(job);
  }

  addFolder.addEventListener('click', async () => {
    try {
      const reply = await openDialog('folder', 'images');
      if (reply === null) { say(`No folder dialog is available here: ${NO_DIALOG}`); return; }
      for (const f of reply.folders) if (!folders.some((g) => g.id === f.id)) folders.push(f);
      renderFolders();
    } catch (e) {
      say(errorText(e));
    }
  });
  start.addEventListener('click', () => void startJob().catch((e) => { owned = false; say(errorText(e)); render(); }));
  pause.addEventListener('click', () => {
    if (!current) return;
    if (gate.paused) gate.resume(); else gate.pause();
    render();
    void batchJobs.control(current.id, gate.paused ? 'pause' : 'resume').catch((e) => say(errorText(e)));
  });
  cancel.addEventListener('click', () => {
    if (!current) return;
    gate.resume();     // the batch in flight is finished, then the job ends
    void batchJobs.control(current.id, 'cancel').then((s) => { current = s; render(); }).catch((e) => say(errorText(e)));
  });
  // A closing (or reloading) window can't answer batches any more: the job ends now, with its exports.
  addEventListener('pagehide', () => {
    if (owned && current) batchJobs.giveUpOnClose(current.id, 'The window was closed while the batch job ran. ' +
      'What was classified is kept; start the job again to go on.');
  });

  renderFolders();
  render();
  void exportInto.restore().catch(() => undefined);
  // A job started in another window (or before a reload) is shown, and can be cancelled here.
  void batchJobs.current().then((job) => {
    if (job && (job.state === 'running' || job.state === 'stopping') && !current) {
      say('This batch job was started in another window; it goes on there.');
      void follow(job);
    }
  }).catch(() => undefined);
}
