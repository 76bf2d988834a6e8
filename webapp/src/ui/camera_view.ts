// The camera view: webcam frames classified continuously, one in flight at a time, with the
// top-5 drawn over the video and a smoothed frames-per-second counter. The camera is on only
// while this view is shown and the window is visible: Stop, leaving the view or hiding the
// window stops its tracks (and so turns the camera light off).

import { cameraErrorText, closeCamera, openCamera } from './camera';
import { el, errorText } from './dom';
import { FrameRate } from './frame_rate';
import type { ModelSession } from './model_session';
import { predictionList } from './predictions';

export interface CameraView { enter(): void; leave(): void }

/** Resolves when the video presents its next frame, or at once when signal aborts. */
export function nextFrame(video: HTMLVideoElement, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if ('requestVideoFrameCallback' in video) {
      const id = video.requestVideoFrameCallback(() => resolve());
      signal.addEventListener('abort', () => { video.cancelVideoFrameCallback(id); resolve(); }, { once: true });
    } else {   // browsers without it: poll once per display frame
      const id = requestAnimationFrame(() => resolve());
      signal.addEventListener('abort', () => { cancelAnimationFrame(id); resolve(); }, { once: true });
    }
  });
}

export function showCameraView(root: HTMLElement, session: ModelSession): CameraView {
  root.replaceChildren();
  const header = el('header');
  const toggle = el('button', 'button primary', 'Start');
  const status = el('span', 'status');
  session.onStatus((s) => { status.textContent = s; });
  header.append(session.picker(), toggle, status);
  const video = el('video');
  video.muted = true;
  video.playsInline = true;
  video.setAttribute('aria-label', 'Camera');
  let overlay = el('ol', 'overlay');
  const fps = el('span', 'fps');
  fps.setAttribute('aria-label', 'Frames classified per second');
  // Shown instead of the video: why the camera is off, and what to do about it.
  const message = el('p', 'message');
  message.setAttribute('role', 'status');
  const stage = el('div', 'stage');
  stage.append(video, overlay, fps, message);
  root.append(header, stage);

  let stream: MediaStream | null = null;
  let frames: AbortController | null = null;   // the running classification loop
  let opening = false;
  let shown = false;
  let resumeWhenVisible = false;

  let why = '';

  function render(): void {
    toggle.textContent = stream ? 'Stop' : 'Start';
    toggle.disabled = opening;
    stage.classList.toggle('live', !!stream);
    message.textContent = why || (opening ? 'Opening the camera…' : 'Camera off');
    message.hidden = !!stream;
  }

  function explain(text: string): void {
    why = text;
    render();
  }

  async function start(): Promise<void> {
    if (stream || opening) return;
    opening = true;
    why = '';
    render();
    try {
      const opened = await openCamera();
      if (!shown || document.hidden) { closeCamera(opened); return; }   // left while it opened
      stream = opened;
      video.srcObject = opened;
      opened.getVideoTracks()[0]?.addEventListener('ended', () => {
        stop();
        explain('The camera stopped (unplugged, or taken by another application). Press Start to try again.');
      });
      await video.play();
      frames = new AbortController();
      void classifyFrames(frames.signal);
    } catch (e) {
      stop();
      why = cameraErrorText(e);
    } finally {
      opening = false;
      render();
    }
  }

  function stop(): void {
    frames?.abort();
    frames = null;
    if (stream) closeCamera(stream);
    stream = null;
    video.srcObject = null;
    overlay.replaceChildren();
    fps.textContent = '';
    render();
  }

  async function classifyFrames(signal: AbortSignal): Promise<void> {
    const rate = new FrameRate();
    while (!signal.aborted) {
      await nextFrame(video, signal);
      if (signal.aborted || video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) continue;
      const frame = await createImageBitmap(video);
      try {
        const { top } = await session.classify(frame, 5);
        if (signal.aborted) return;
        const next = predictionList(top, 'overlay');
        overlay.replaceWith(next);
        overlay = next;
        fps.textContent = `${rate.tick().toFixed(1)} fps`;
      } catch (e) {
        if (signal.aborted) return;
        stop();
        explain(errorText(e));
      } finally {
        frame.close();
      }
    }
  }

  toggle.addEventListener('click', () => { if (stream) stop(); else void start(); });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden && (stream || opening)) {
      resumeWhenVisible = true;
      stop();
    } else if (!document.hidden && resumeWhenVisible) {
      resumeWhenVisible = false;
      if (shown) void start();
    }
  });
  render();
  return {
    enter() { shown = true; void start(); },
    leave() { shown = false; resumeWhenVisible = false; stop(); },
  };
}
