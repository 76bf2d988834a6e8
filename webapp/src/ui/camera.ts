// Opening the camera, and what to tell the user when it can't be opened.

export async function openCamera(): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) throw new DOMException('no mediaDevices', 'NotSupportedError');
  return navigator.mediaDevices.getUserMedia({
    audio: false, video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' },
  });
}

export function closeCamera(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop();
}

/** One sentence with a next step, by getUserMedia's error names. */
export function cameraErrorText(e: unknown): string {
  const name = e instanceof DOMException ? e.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Tessera was not allowed to use the camera. Allow camera access for this app in the browser’s site settings (or the system’s privacy settings), then press Start.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Connect a camera, then press Start.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera is in use by another application, or it could not start. Close the other application, then press Start.';
    case 'NotSupportedError':
      return 'This window gives pages no access to cameras. Open Tessera in Chromium, Chrome, Edge or Brave for the camera view.';
    default:
      return `The camera could not start: ${e instanceof Error ? e.message : String(e)}. Press Start to try again.`;
  }
}
