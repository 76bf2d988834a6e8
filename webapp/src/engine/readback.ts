// Reading a buffer back fast. Chromium's GPU process polls fences every 1–2 ms, so a plain
// `await mapAsync` adds ~2 ms once the GPU work outlasts ~0.2 ms. A 16-byte queue.writeBuffer
// on every event-loop turn while a map is pending makes it notice completion sooner
// (~1 ms on the H100 test machine). queue.submit([]) as the pump stalled for 100 ms: avoid it.
// One pump serves every pending map, so calls in flight together don't each pump. The pump
// writes at most once per PUMP_INTERVAL_MS: an event-loop turn takes microseconds, and a write
// on every turn floods the GPU process (which also has to take the next calls' commands) with
// tens of thousands of writes a second while calls are pipelined.

const PUMP_BYTES = new Uint32Array(4);
const PUMP_INTERVAL_MS = 0.1;

/** Calls that may be in flight at once (submitted, result not yet read) per input shape. */
export const CALLS_IN_FLIGHT = 3;

export class Readback {
  private readonly pumpTarget: GPUBuffer;
  private readonly channel = new MessageChannel();
  private pending = 0;
  private pumping = false;

  constructor(private readonly device: GPUDevice) {
    this.pumpTarget = device.createBuffer({ label: 'readback pump', size: 16, usage: GPUBufferUsage.COPY_DST });
  }

  /** A macrotask turn without the 4 ms clamp of setTimeout (only the pump loop waits on it). */
  private nextTurn(): Promise<void> {
    return new Promise((resolve) => {
      this.channel.port1.onmessage = () => resolve();
      this.channel.port2.postMessage(null);
    });
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    let last = -Infinity;
    while (this.pending > 0) {
      const now = performance.now();
      if (now - last >= PUMP_INTERVAL_MS) {
        this.device.queue.writeBuffer(this.pumpTarget, 0, PUMP_BYTES);
        last = now;
      }
      await this.nextTurn();
    }
    this.pumping = false;
  }

  /** Maps `buffer` for reading, pumping the queue until it is mapped. */
  async map(buffer: GPUBuffer): Promise<void> {
    const mapped = buffer.mapAsync(GPUMapMode.READ);
    this.pending++;
    if (!this.pumping) void this.pump();
    try {
      await mapped;
    } finally {
      this.pending--;
    }
  }

  destroy(): void {
    this.pumpTarget.destroy();
    this.channel.port1.close();
  }
}

/** Up to CALLS_IN_FLIGHT readback buffers of one size, each lent to one call at a time, so
 *  calls issued without awaiting the previous one each read their own result. */
export class ReadbackRing {
  private readonly made: GPUBuffer[] = [];
  private readonly free: GPUBuffer[] = [];
  private readonly waiting: ((b: GPUBuffer) => void)[] = [];

  constructor(private readonly device: GPUDevice, private readonly readback: Readback, readonly bytes: number) {}

  /** A buffer for the next call to copy its result into (waits while all are lent). */
  acquire(): Promise<GPUBuffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.made.length < CALLS_IN_FLIGHT) {
      const made = this.device.createBuffer({ label: `readback ${this.made.length}`, size: this.bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.made.push(made);
      return Promise.resolve(made);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(b: GPUBuffer): void {
    const next = this.waiting.shift();
    if (next) next(b);
    else this.free.push(b);
  }

  /** Maps `b` (already submitted into), copies its bytes out and lends it on. */
  async read(b: GPUBuffer): Promise<ArrayBuffer> {
    try {
      await this.readback.map(b);
      const out = b.getMappedRange().slice(0);
      b.unmap();
      return out;
    } finally {
      this.release(b);
    }
  }

  destroy(): void {
    for (const b of this.made) b.destroy();
  }
}
