// Entry point: the URL says which mode the page is in (a CLI job, the doctor probe, or the app).

import { runBatchPage } from './batch/page';
import { runDoctor } from './ui/doctor_page';
import { runStylizePage } from './stylize/page';
import { showApp } from './ui/app_shell';
import type * as BenchPage from './bench/page';
import { installEngineTestHooks } from './engine/test_hooks';

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const job = params.get('job');
  if (job) return params.get('mode') === 'stylize' ? runStylizePage(job) : runBatchPage(job);
  if (params.get('mode') === 'doctor') return runDoctor();
  if (params.get('mode') === 'engine-test') return installEngineTestHooks();
  if (params.get('mode') === 'bench') {
    // A bundle of its own (bench.js), so the app never downloads TensorFlow.js.
    const page = (await import(/* @vite-ignore */ new URL('bench.js', document.baseURI).href)) as typeof BenchPage;
    return page.runBench(params.get('plan') ?? '');
  }
  return showApp(document.getElementById('app')!);
}

main().catch((e) => {
  document.body.textContent = `Tessera could not start: ${e instanceof Error ? e.message : e}`;
});
