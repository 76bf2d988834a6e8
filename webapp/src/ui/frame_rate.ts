// Frames per second, smoothed (an exponential moving average of the time between frames), so
// the number on screen is steady enough to read.

const SMOOTHING = 0.1;   // weight of the newest interval

export class FrameRate {
  private last = 0;
  private interval = 0;

  /** Count a frame; returns the smoothed rate (0 until two frames were seen). */
  tick(now = performance.now()): number {
    if (this.last) {
      const dt = now - this.last;
      this.interval = this.interval ? this.interval + SMOOTHING * (dt - this.interval) : dt;
    }
    this.last = now;
    return this.interval ? 1000 / this.interval : 0;
  }
}
