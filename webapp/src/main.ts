// Entry point: the URL says which mode the page is in (a CLI job, the doctor probe, or the app).

import { runDoctor, runJob } from './ui/job_runner';
import { showClassifyView } from './ui/classify_view';

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const job = params.get('job');
  if (job) return runJob(job);
  if (params.get('mode') === 'doctor') return runDoctor();
  return showClassifyView(document.getElementById('app')!);
}

main().catch((e) => {
  document.body.textContent = `Tessera could not start: ${e instanceof Error ? e.message : e}`;
});
