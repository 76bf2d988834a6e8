// Headless doctor mode: `tessera doctor` opened this page to learn what WebGPU offers here.

import { postJSON } from '../api';
import { probeAdapter } from '../engine/adapter';

export async function runDoctor(): Promise<void> {
  await postJSON('api/doctor', await probeAdapter());
}
