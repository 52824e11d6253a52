// Record speech for a generation in the browser: the microphone (getUserMedia) through an
// AudioWorklet as 32-bit float blocks, encoded here as a mono 16-bit PCM WAV and put into the
// form's file input, so the upload is the same multipart form as a chosen file.
"use strict";

function encodeWav(blocks, sampleRate) {
  const count = blocks.reduce((n, b) => n + b.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * count));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * count, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, 2 * count, true);
  let at = 44;
  for (const block of blocks) {
    for (let i = 0; i < block.length; i++, at += 2) {
      const s = Math.max(-1, Math.min(1, block[i]));
      view.setInt16(at, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
  }
  return new Blob([view.buffer], { type: "audio/wav" });
}

function setUpRecorder(box) {
  const start = document.getElementById("record-start");
  const stop = document.getElementById("record-stop");
  const status = document.getElementById("record-status");
  const preview = document.getElementById("record-preview");
  const input = document.getElementById(box.dataset.input);
  const limit = Number(box.dataset.maxSeconds);
  let session = null;

  const finish = async () => {
    if (!session) return;
    const { stream, context, blocks, timer } = session;
    session = null;
    clearInterval(timer);
    stream.getTracks().forEach((t) => t.stop());
    const rate = context.sampleRate;
    await context.close();
    const samples = blocks.reduce((n, b) => n + b.length, 0);
    start.disabled = false; stop.disabled = true;
    if (samples === 0) { status.textContent = "Nothing was recorded; check the microphone and try again."; return; }
    const file = new File([encodeWav(blocks, rate)], "recording.wav", { type: "audio/wav" });
    const files = new DataTransfer();
    files.items.add(file);
    input.files = files.files;
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    status.textContent = `Recorded ${(samples / rate).toFixed(1)} s (${rate} Hz WAV, ${Math.round(file.size / 1024)} KB); it will be uploaded as the speech.`;
  };

  start.addEventListener("click", async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      const context = new AudioContext();
      await context.audioWorklet.addModule("/console/static/recorder-worklet.js");
      const node = new AudioWorkletNode(context, "pcm-capture", { numberOfOutputs: 0 });
      const blocks = [];
      let samples = 0;
      node.port.onmessage = (event) => { blocks.push(event.data); samples += event.data.length; };
      context.createMediaStreamSource(stream).connect(node);
      const timer = setInterval(() => {
        const seconds = samples / context.sampleRate;
        status.textContent = `Recording: ${seconds.toFixed(1)} s`;
        if (seconds >= limit) finish();
      }, 250);
      session = { stream, context, blocks, timer };
      start.disabled = true; stop.disabled = false; stop.focus();
      status.textContent = "Recording: 0.0 s";
    } catch (err) {
      status.textContent = `Could not record: ${err.message}`;
    }
  });
  stop.addEventListener("click", finish);
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("recorder");
  if (!box) return;
  if (!navigator.mediaDevices || !window.AudioWorkletNode || !window.DataTransfer) return; // stays hidden
  box.hidden = false;
  setUpRecorder(box);
});
