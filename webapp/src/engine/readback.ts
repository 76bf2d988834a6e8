// Reading a buffer back fast. Chromium's GPU process polls fences every 1–2 ms, so a plain
// `await mapAsync` adds ~2 ms once the GPU work outlasts ~0.2 ms. A 16-byte queue.writeBuffer
// on every event-loop turn while the map is pending makes it notice completion sooner
// (~1 ms on the H100 test machine). queue.submit([]) as the pump stalled for 100 ms: avoid it.

const PUMP_BYTES = new Uint32Array(4);

export class Readback {
  private readonly pumpTarget: GPUBuffer;
  private readonly channel = new MessageChannel();

  constructor(private readonly device: GPUDevice) {
    this.pumpTarget = device.createBuffer({ label: 'readback pump', size: 16, usage: GPUBufferUsage.COPY_DST });
  }

  /** A macrotask turn without the 4 ms clamp of setTimeout. */
  private nextTurn(): Promise<void> {
    return new Promise((resolve) => {
      this.channel.port1.onmessage = () => resolve();
      this.channel.port2.postMessage(null);
    });
  }

  /** Maps `buffer` for reading, pumping the queue until it is mapped. */
  async map(buffer: GPUBuffer): Promise<void> {
    let done = false;
    const mapped = buffer.mapAsync(GPUMapMode.READ).finally(() => { done = true; });
    while (!done) {
      this.device.queue.writeBuffer(this.pumpTarget, 0, PUMP_BYTES);
      await this.nextTurn();
    }
    await mapped;
  }

  destroy(): void {
    this.pumpTarget.destroy();
    this.channel.port1.close();
  }
}
