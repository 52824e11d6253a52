// The audio thread's half of the recorder: hands each 128-frame block of the microphone, mixed
// down to mono, to the page (static/recorder.js), which encodes the whole take as 16-bit PCM WAV.
"use strict";

class PcmCapture extends AudioWorkletProcessor {
  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      const mono = new Float32Array(channels[0].length);
      for (const channel of channels) for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / channels.length;
      this.port.postMessage(mono, [mono.buffer]);
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
