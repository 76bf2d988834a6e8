// The style view's live camera: webcam frames, scaled to a small size the network takes,
// stylised one at a time into the preview with a smoothed frames-per-second counter.

import { closeCamera, openCamera } from './camera';
import { nextFrame } from './camera_view';
import { FrameRate } from './frame_rate';
import { outputSize } from './style_export';
import type { PreviewNetwork, StyleRenderer } from './style_renderer';

/** What the preview runs now: a network and its style input. */
export interface PreviewStyle { network: PreviewNetwork; style: Float32Array }

const CAMERA_SIDE = 256;

export class StyleCamera {
  private readonly frames = new AbortController();

  private constructor(private readonly stream: MediaStream) {}

  /** Opens the camera (rejects with getUserMedia's error: see cameraErrorText). */
  static async open(): Promise<StyleCamera> {
    return new StyleCamera(await openCamera());
  }

  /** Stylises frames with the current style until stop(); `resize` gives the preview each frame's size, `rate` the
   *  frames per second after each one. */
  async run(renderer: StyleRenderer, current: () => PreviewStyle, resize: (w: number, h: number) => void,
    rate: (fps: number) => void): Promise<void> {
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = this.stream;
    await video.play();
    const signal = this.frames.signal;
    const counter = new FrameRate();
    while (!signal.aborted) {
      await nextFrame(video, signal);
      if (signal.aborted || video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) continue;
      const size = outputSize(video.videoWidth, video.videoHeight, CAMERA_SIDE, renderer.info.sizeMultiple);
      const frame = await createImageBitmap(video, { resizeWidth: size.width, resizeHeight: size.height });
      resize(size.width, size.height);
      const { network, style } = current();
      renderer.render(frame, style, network);
      await renderer.settled();
      frame.close();
      if (!signal.aborted) rate(counter.tick());
    }
  }

  stop(): void {
    this.frames.abort();
    closeCamera(this.stream);
  }
}
