"""A small Python client for ``/v1/live`` (a front door of its own: it talks to the API over a
WebSocket and imports only the wire format from the service).

    client = LiveClient("ws://127.0.0.1:8000/v1/live", api_key)
    result = client.run(samples_16k, consent_id=..., portrait_id=..., on_frame=show)
    result.frames[0].jpeg, result.recorded["generation_id"], result.close_code

Audio goes out at real-time pace (``realtime=False`` sends as fast as the socket takes it) in
``chunk_s`` pieces from one thread while frames are received on another; each frame and each
audio chunk is stamped with ``time.monotonic()`` so a caller can measure latency and lag.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from candor.errors import CandorError
from candor.services.live import decode_frame

SUBPROTOCOL = "candor.live.v1"


class LiveSessionError(CandorError):
    """The server refused or ended the session with an error close code."""

    status = 400


@dataclass
class LiveFrame:
    index: int
    pts_ms: int  # the frame's start in the audio, ms
    jpeg: bytes
    received_at: float  # time.monotonic()


@dataclass
class LiveResult:
    """What came back: the ready message, the frames, the notes (controls/stopped/recorded), the
    close, and when each audio chunk went out (``sent``: (monotonic time, audio seconds sent))."""

    ready: dict[str, Any]
    frames: list[LiveFrame] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    sent: list[tuple[float, float]] = field(default_factory=list)

    @property
    def recorded(self) -> dict[str, Any] | None:
        return next((n for n in reversed(self.notes) if n.get("type") == "recorded"), None)

    def audio_sent_at(self, seconds: float) -> float | None:
        """When the audio up to ``seconds`` had been sent (monotonic), None if it never was."""
        return next((t for t, s in self.sent if s >= seconds - 1e-9), None)


class LiveClient:
    """One live session per :meth:`run` against ``url`` with ``api_key`` (sent as a Bearer header)."""

    def __init__(self, url: str, api_key: str, *, open_timeout: float = 60.0) -> None:
        self.url, self.api_key, self.open_timeout = url, api_key, open_timeout

    def run(
        self,
        audio: np.ndarray | Iterable[np.ndarray],
        *,
        consent_id: str,
        portrait_id: str,
        sample_rate: int = 16_000,
        controls: dict[str, Any] | None = None,
        seed: int = 0,
        chunk_s: float = 0.02,
        realtime: bool = True,
        control_changes: dict[float, dict[str, Any]] | None = None,
        on_frame: Callable[[LiveFrame], None] | None = None,
    ) -> LiveResult:
        """Stream ``audio`` (float samples in [-1, 1] at ``sample_rate``: one array, or chunks as
        they come, e.g. from stdin) and collect what comes back until the server closes.
        ``control_changes``: {audio second: controls} sent when the audio reaches that second.
        Raises LiveSessionError when the session cannot start (a 44xx/1xxx close before ``ready``)."""
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {self.api_key}"}
        with connect(
            self.url, additional_headers=headers, subprotocols=[SUBPROTOCOL], open_timeout=self.open_timeout,
            max_size=4 * 1024 * 1024, compression=None,
        ) as ws:  # fmt: skip
            start = {"type": "start", "consent_id": consent_id, "portrait_id": portrait_id,
                     "sample_rate": sample_rate, "controls": controls or {}, "seed": seed}  # fmt: skip
            ws.send(json.dumps(start))
            try:
                ready = json.loads(ws.recv(timeout=self.open_timeout))
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                raise LiveSessionError(
                    f"the session was refused ({rcvd.code if rcvd else '?'}): {rcvd.reason if rcvd else ''}"
                ) from None
            result = LiveResult(ready)
            sender = threading.Thread(
                target=self._send,
                args=(ws, audio, sample_rate, chunk_s, realtime, dict(control_changes or {}), result),
                daemon=True,
            )
            sender.start()
            try:
                for message in ws:
                    if isinstance(message, bytes):
                        index, pts_ms, jpeg = decode_frame(message)
                        frame = LiveFrame(index, pts_ms, jpeg, time.monotonic())
                        result.frames.append(frame)
                        if on_frame is not None:
                            on_frame(frame)
                    else:
                        result.notes.append(json.loads(message))
            except ConnectionClosed:
                pass
            sender.join(timeout=5)
            result.close_code, result.close_reason = ws.close_code, ws.close_reason or ""
        return result

    @staticmethod
    def _send(
        ws: Any,
        audio: np.ndarray | Iterable[np.ndarray],
        rate: int,
        chunk_s: float,
        realtime: bool,
        changes: dict[float, dict[str, Any]],
        result: LiveResult,
    ) -> None:
        from websockets.exceptions import ConnectionClosed

        step = max(1, int(chunk_s * rate))
        chunks = (audio[i : i + step] for i in range(0, len(audio), step)) if isinstance(audio, np.ndarray) else audio
        sent = 0
        t0 = time.monotonic()
        try:
            for chunk in chunks:
                for at in sorted(a for a in changes if a <= sent / rate):
                    ws.send(json.dumps({"type": "controls", "controls": changes.pop(at)}))
                pcm = (np.clip(np.asarray(chunk, np.float32), -1, 1) * 32767).astype("<i2")
                if realtime:  # as a microphone would: a chunk goes out once its audio has been spoken
                    time.sleep(max(0.0, t0 + (sent + len(pcm)) / rate - time.monotonic()))
                ws.send(pcm.tobytes())
                sent += len(pcm)
                result.sent.append((time.monotonic(), sent / rate))
            ws.send(json.dumps({"type": "end"}))
        except ConnectionClosed:  # the server ended the session (quota, policy): its close says why
            return
