// The live page: microphone -> PCM16 over the console's live socket; JPEG frames -> the canvas.
"use strict";
(function () {
  const form = document.getElementById("live-form");
  if (!form) return;
  const status = document.getElementById("live-status");
  const result = document.getElementById("live-result");
  const canvas = document.getElementById("live-face");
  const startButton = document.getElementById("live-start");
  const stopButton = document.getElementById("live-stop");
  const painter = canvas.getContext("2d");
  let socket = null, audio = null, stream = null, frames = 0;

  function say(text) { status.textContent = text; }

  function controls() {
    const out = {};
    for (const input of form.querySelectorAll(".control")) {
      out[input.name] = input.tagName === "SELECT" ? input.value : Number(input.value);
    }
    return out;
  }

  function toPcm16(block) {
    const pcm = new Int16Array(block.length);
    for (let i = 0; i < block.length; i++) {
      const s = Math.max(-1, Math.min(1, block[i]));
      pcm[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
    }
    return pcm.buffer;  // little-endian on every platform browsers run on
  }

  async function stopCapture() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (audio) await audio.close();
    stream = null; audio = null;
  }

  async function start(event) {
    event.preventDefault();
    startButton.disabled = true;
    result.textContent = "";
    frames = 0;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
      audio = new AudioContext();
      await audio.audioWorklet.addModule("/console/static/recorder-worklet.js");
    } catch (err) {
      say("The microphone is not available: " + err.message);
      startButton.disabled = false;
      await stopCapture();
      return;
    }
    const [consentId, portraitId] = form.subject.value.split("/");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/console/studio/live/socket");
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      say("Preparing the portrait…");
      socket.send(JSON.stringify({
        type: "start", consent_id: consentId, portrait_id: portraitId,
        sample_rate: audio.sampleRate, controls: controls(), csrf_token: form.dataset.csrf,
      }));
    };
    socket.onmessage = async (message) => {
      if (typeof message.data !== "string") {
        const bitmap = await createImageBitmap(new Blob([message.data.slice(12)], { type: "image/jpeg" }));
        painter.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        frames += 1;
        if (frames % 25 === 0) say("Live: " + frames + " frames");
        return;
      }
      const note = JSON.parse(message.data);
      if (note.type === "ready") {
        const source = audio.createMediaStreamSource(stream);
        // The worklet hands over 128-sample blocks; send about 40 ms at a time.
        const pending = new Float32Array(Math.round(audio.sampleRate * 0.04));
        let filled = 0;
        const capture = new AudioWorkletNode(audio, "pcm-capture");
        capture.port.onmessage = (block) => {
          let offset = 0;
          while (offset < block.data.length) {
            const n = Math.min(block.data.length - offset, pending.length - filled);
            pending.set(block.data.subarray(offset, offset + n), filled);
            filled += n;
            offset += n;
            if (filled === pending.length) {
              if (socket && socket.readyState === WebSocket.OPEN) socket.send(toPcm16(pending));
              filled = 0;
            }
          }
        };
        source.connect(capture);
        stopButton.disabled = false;
        say("Live: speak now (watermark serial " + note.watermark_serial + ")");
      } else if (note.type === "recorded") {
        const link = document.createElement("a");
        link.href = "/console/studio/generations/" + encodeURIComponent(note.generation_id);
        link.textContent = "The signed recording (" + note.frames + " frames)";
        result.replaceChildren(link);
      } else if (note.type === "stopped") {
        say("Stopped: " + (note.reason || ""));
      }
    };
    socket.onclose = async (event) => {
      await stopCapture();
      startButton.disabled = false;
      stopButton.disabled = true;
      say(event.code === 1000 ? "Ended: " + frames + " frames; the session was recorded." :
        "Closed (" + event.code + "): " + (event.reason || "the connection ended"));
      socket = null;
    };
  }

  form.addEventListener("submit", start);
  stopButton.addEventListener("click", async () => {
    stopButton.disabled = true;
    await stopCapture();
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "end" }));
    say("Finishing the recording…");
  });
  for (const input of form.querySelectorAll(".control")) {
    input.addEventListener("change", () => {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "controls", controls: controls() }));
      }
    });
  }
})();
