// Writing a call's input. queue.writeBuffer sends its bytes through Chromium's command stream
// in chunks, which costs milliseconds of host time for a batch of images (8×3×224×224 floats =
// 4.8 MB). A MAP_WRITE staging buffer is shared memory with the GPU process: the input is copied
// into it once and the GPU copies it on into the input buffer, inside the call's own command
// buffer. Staging buffers take turns, each mapped again as soon as the call that used it is
// submitted, so that a call normally finds its buffer mapped already; there is one per call
// that may be in flight, so pipelined calls don't wait on each other's uploads.

import { CALLS_IN_FLIGHT } from './readback';

const SLOTS = CALLS_IN_FLIGHT;

interface Slot { buffer: GPUBuffer; ready: Promise<void> }

export class InputUploader {
  private readonly slots: Slot[];
  private next = 0;

  constructor(device: GPUDevice, private readonly target: GPUBuffer, private readonly bytes: number) {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    this.slots = Array.from({ length: SLOTS }, (_, i) => ({
      buffer: device.createBuffer({ label: `input staging ${i}`, size, mappedAtCreation: true,
        usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC }),
      ready: Promise.resolve(),
    }));
  }

  /** Stages `input` and records its copy into the target buffer at the start of `enc`. Call the
   *  returned release once `enc` is submitted (or abandoned): it maps the staging buffer again. */
  async write(enc: GPUCommandEncoder, input: Float32Array): Promise<() => void> {
    if (input.byteLength !== this.bytes) {
      throw new Error(`input has ${input.length} floats; this call's shape takes ${this.bytes / 4}`);
    }
    const slot = this.slots[this.next];
    this.next = (this.next + 1) % SLOTS;
    // Claim the slot before waiting, so that concurrent calls queue up behind each other.
    const previous = slot.ready;
    let release!: () => void;
    slot.ready = new Promise((resolve, reject) => {
      release = () => slot.buffer.mapAsync(GPUMapMode.WRITE).then(resolve, reject);
    });
    try {
      await previous;
    } catch (e) {
      release();    // the next call on this slot tries again (and fails loudly) instead of hanging
      throw e;
    }
    new Float32Array(slot.buffer.getMappedRange(), 0, input.length).set(input);
    slot.buffer.unmap();
    enc.copyBufferToBuffer(slot.buffer, 0, this.target, 0, this.bytes);
    return release;
  }

  destroy(): void {
    for (const s of this.slots) s.buffer.destroy();
  }
}
