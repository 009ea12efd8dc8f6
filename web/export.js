// export.js: Save PNG (the frame on the stage) and "Export frames" (every
// step of the open lesson, or a range, as numbered PNGs in one ZIP for
// slides). A part of the page that app.js wires up; the contract with the
// Go program (still, shot, zipBegin, zipAdd, zipEnd) is in web/BRIDGE.md.
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  // FRAME_WAIT_MS is how long one frame may take to be drawn before the
  // export gives up (a hidden tab draws nothing).
  const FRAME_WAIT_MS = 15000;
  // ENCODING is how many frames may be encoded as PNG at once.
  const ENCODING = 4;

  parts.exporter = (app) => {
    const { view, el, stage } = app;
    const $ = (id) => document.getElementById(id);
    const ui = {
      from: $("frames-from"), to: $("frames-to"), go: $("export-frames"), cancel: $("frames-cancel"),
      status: $("frames-status"), box: $("frames-box"),
    };
    let running = null; // the export under way: {cancelled}

    // baseName is mmuviz-<name>[-<variant>], safe as a file name.
    function baseName() {
      let n = view.name;
      if (view.variants.length > 0 && view.variant) {
        n += "-" + view.variant;
      }
      return "mmuviz-" + n.replace(/[^A-Za-z0-9._-]+/g, "_");
    }

    // The page's own canvas, for turning the game's pixels into PNGs.
    const scratch = document.createElement("canvas");

    // waitShot resolves with the copy of step's frame the game keeps after
    // still(step) (shot() in BRIDGE.md): the picture at rest, read from the
    // game's screen image, whatever the browser does with the WebGL canvas.
    function waitShot(step, job) {
      const win = stage.contentWindow;
      const t0 = performance.now();
      return new Promise((resolve, reject) => {
        const tick = () => {
          const s = app.call("shot");
          if (job.cancelled) {
            reject(new Error("cancelled"));
          } else if (s && s.step === step && s.width > 0 && s.height > 0) {
            resolve(s);
          } else if (view.crashed || performance.now() - t0 > FRAME_WAIT_MS) {
            reject(new Error("step " + step + " was not drawn; keep the page visible while exporting"));
          } else {
            win.requestAnimationFrame(tick);
          }
        };
        win.requestAnimationFrame(tick);
      });
    }

    // toPNG encodes a shot's RGBA pixels (a Uint8Array of the stage's
    // window) as a PNG Blob, with the browser's own encoder.
    function toPNG(shot) {
      scratch.width = shot.width;
      scratch.height = shot.height;
      const data = new ImageData(new Uint8ClampedArray(shot.pixels), shot.width, shot.height);
      scratch.getContext("2d").putImageData(data, 0, 0);
      return new Promise((resolve, reject) => {
        scratch.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the frame could not be encoded"))), "image/png");
      });
    }

    // frame moves to step at rest and returns its state and the promise
    // of its PNG: toBlob copies the pixels at once and encodes them on its
    // own, so the next frame can be drawn meanwhile.
    async function frame(step, job) {
      const t0 = performance.now();
      const s = app.parseJSON(app.call("still", step)) || {};
      app.applyState(s);
      const shot = await waitShot(step, job);
      job.drawMs = (job.drawMs || 0) + performance.now() - t0;
      return { s, png: toPNG(shot) };
    }

    function download(blob, name) {
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    }

    // exportPNG downloads the frame of this step as mmuviz-<name>-step<k>.png.
    async function exportPNG() {
      if (running || view.crashed || !view.kind) {
        el.copyStatus.textContent = "There is no frame to save yet";
        return;
      }
      const job = { cancelled: false };
      running = job;
      const name = baseName() + "-step" + Math.max(0, view.step) + ".png";
      try {
        const png = await (await frame(Math.max(0, view.step), job)).png;
        window.mmuvizLastExport = { name, blob: png };
        download(png, name);
        el.copyStatus.textContent = "Saved " + name;
      } catch (err) {
        el.copyStatus.textContent = "The frame could not be saved";
      } finally {
        running = null;
      }
    }

    // range reads the From and To fields; empty means first and last.
    function range() {
      const last = view.total - 1;
      const read = (input, dflt) => {
        const v = input.value.trim();
        return v === "" ? dflt : Math.floor(Number(v));
      };
      const from = read(ui.from, 0);
      const to = read(ui.to, last);
      if (!Number.isFinite(from) || !Number.isFinite(to) || from < 0 || to > last || from > to) {
        return { error: "Choose steps from 0 to " + last + ", the first not after the last." };
      }
      return { from, to };
    }

    const pad = (k) => String(k).padStart(3, "0");

    // exportFrames steps through the range with still(), grabs each frame
    // and builds mmuviz-<name>-frames.zip: step-000.png, step-001.png, ...
    // and steps.txt with each step's narration (the slides' text too).
    async function exportFrames() {
      if (running || view.crashed || !view.kind) {
        return;
      }
      const r = range();
      if (r.error) {
        ui.status.textContent = r.error;
        return;
      }
      const job = { cancelled: false };
      running = job;
      const back = { step: Math.max(0, view.step), playing: view.playing };
      app.call("setPlaying", false);
      setRunning(true);
      const t0 = performance.now();
      const name = baseName() + "-frames.zip";
      const blobs = [];
      const lines = [el.title.textContent + " — " + view.kind + " " + view.name +
        (view.variants.length > 0 ? ", variant " + view.variant : "") + ", steps " + r.from + " to " + r.to, ""];
      try {
        app.call("zipBegin");
        // Up to ENCODING frames are being encoded while the next is drawn;
        // they join the ZIP in step order.
        const queue = [];
        const store = async ({ k, s, png }) => {
          const file = "step-" + pad(k) + ".png";
          const blob = await png;
          add(blobs, file, await blob.arrayBuffer(), blob);
          lines.push(file + "  step " + k + ": " + String(s.narration || "") + (s.func ? "  [" + s.func + "]" : ""));
        };
        for (let k = r.from; k <= r.to; k++) {
          ui.status.textContent = "Frame " + (k - r.from + 1) + " of " + (r.to - r.from + 1) + "…";
          queue.push({ k, ...(await frame(k, job)) });
          while (queue.length > ENCODING) {
            await store(queue.shift());
          }
        }
        while (queue.length > 0) {
          await store(queue.shift());
        }
        const text = new TextEncoder().encode(lines.join("\n") + "\n");
        add(blobs, "steps.txt", text.buffer, text);
        const end = app.call("zipEnd");
        if (!ArrayBuffer.isView(end)) {
          throw new Error(String(end || "the ZIP could not be finished"));
        }
        blobs.push(end);
        const zip = new Blob(blobs, { type: "application/zip" });
        const ms = Math.round(performance.now() - t0);
        // ms is the whole export, drawMs the time spent waiting for the
        // game to draw the frames (most of it in software WebGL).
        window.mmuvizLastFrames = { name, blob: zip, frames: r.to - r.from + 1, ms, drawMs: Math.round(job.drawMs) };
        download(zip, name);
        ui.status.textContent = "Saved " + name + ": " + (r.to - r.from + 1) + " frames in " + (ms / 1000).toFixed(1) + " s.";
      } catch (err) {
        ui.status.textContent = job.cancelled ? "Export cancelled." : "The export failed: " + (err && err.message ? err.message : err);
      } finally {
        running = null;
        setRunning(false);
        app.seek(back.step);
        if (back.playing) {
          app.call("setPlaying", true);
        }
      }
    }

    // add asks the Go program for a file's header and queues both. The
    // bytes go over as a Uint8Array of the stage's own window: the Go
    // runtime there checks them with its own Uint8Array. Its answers come
    // from that window too, hence ArrayBuffer.isView, not instanceof.
    function add(blobs, file, buffer, data) {
      const header = app.call("zipAdd", file, new stage.contentWindow.Uint8Array(buffer));
      if (!ArrayBuffer.isView(header)) {
        throw new Error(String(header || "the ZIP could not be written"));
      }
      blobs.push(header, data);
    }

    function setRunning(on) {
      ui.go.disabled = on;
      // A screen reader would read every step's narration as it flies by.
      el.narration.setAttribute("aria-live", on ? "off" : "polite");
      ui.cancel.hidden = !on;
      document.body.classList.toggle("exporting", on);
      if (on) {
        ui.cancel.focus();
      } else if (document.activeElement === ui.cancel || document.activeElement === document.body) {
        ui.go.focus();
      }
    }

    function cancel() {
      if (running) {
        running.cancelled = true;
      }
    }

    // reset shows the range of what was just opened.
    function reset() {
      ui.from.value = "";
      ui.to.value = "";
      ui.from.placeholder = "0";
      ui.to.placeholder = String(Math.max(0, view.total - 1));
      ui.from.max = ui.to.max = String(Math.max(0, view.total - 1));
    }

    app.onClick(el.exportPNG, exportPNG);
    ui.go.addEventListener("click", () => { exportFrames(); });
    ui.cancel.addEventListener("click", cancel);

    return { exportPNG, exportFrames, cancel, reset, busy: () => running !== null };
  };
})();
