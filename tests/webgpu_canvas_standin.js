// Test stand-in for WebGPU canvas presentation, injected before the app's scripts. Chromium on
// SwiftShader loses the device on any draw into a real WebGPU canvas, so getContext('webgpu')
// returns a context over a plain texture; after each frame's work is done its pixels are copied
// into the element's own 2D context. What the app's render pass drew is then on screen for
// screenshots, and readable with drawImage like any canvas. Presentation itself is untested.
(() => {
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    if (kind !== 'webgpu') return getContext.call(this, kind, ...rest);
    this.__standin ??= makeStandIn(this, getContext.call(this, '2d'));
    return this.__standin;
  };

  function makeStandIn(canvas, shown) {
    let config = null;
    let texture = null;
    let frames = 0;
    canvas.dataset.presented = '0';
    async function present(frame, tex, { device, format }) {
      await device.queue.onSubmittedWorkDone();
      const [w, h] = [tex.width, tex.height];
      const bytesPerRow = Math.ceil(w * 4 / 256) * 256;
      const buffer = device.createBuffer({ size: bytesPerRow * h, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyTextureToBuffer({ texture: tex }, { buffer, bytesPerRow }, [w, h]);
      device.queue.submit([enc.finish()]);
      await buffer.mapAsync(GPUMapMode.READ);
      const rows = new Uint8Array(buffer.getMappedRange());
      const image = new ImageData(w, h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const s = y * bytesPerRow + x * 4, d = (y * w + x) * 4;
          const bgra = format === 'bgra8unorm';
          image.data[d] = rows[s + (bgra ? 2 : 0)];
          image.data[d + 1] = rows[s + 1];
          image.data[d + 2] = rows[s + (bgra ? 0 : 2)];
          image.data[d + 3] = 255;
        }
      }
      buffer.destroy();
      if (canvas.width === w && canvas.height === h) shown.putImageData(image, 0, 0);
      canvas.dataset.presented = String(frame);
    }
    return {
      canvas,
      configure(c) { config = c; texture = null; },    // as a real canvas: a new device, a new texture
      unconfigure() { config = null; },
      getConfiguration() { return config; },
      getCurrentTexture() {
        if (!texture || texture.width !== canvas.width || texture.height !== canvas.height) {
          texture = config.device.createTexture({ size: [canvas.width, canvas.height], format: config.format,
            usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC });
        }
        const frame = ++frames;
        canvas.dataset.frames = String(frame);
        const [tex, cfg] = [texture, config];
        setTimeout(() => void present(frame, tex, cfg), 0);   // after the caller's submit
        return texture;
      },
    };
  }
})();
