"""A corpus from real talking-head videos: motion from the extractor, audio from the file itself.

Same format as the TTS corpus (engine ``"video"``, no phonemes). Pose is made relative by
subtracting the clip's median yaw/pitch/roll/tx/ty and dividing scale by its median; the
controls record the clip's median gaze, distance 1 and a neutral emotion (nothing measures the
speaker's emotion). Whole videos are held out for validation.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from candor.errors import CandorError, InvalidInput, InvalidVideo
from candor.generator import motion as M
from candor.generator.controls import Controls
from candor.training.corpus.build import ManifestWriter, read_manifest, write_utterance
from candor.training.corpus.labels import FPS, frame_count
from candor.training.corpus.tts import SAMPLE_RATE

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
VAL_FRACTION = 0.1


def read_audio(video: Path) -> np.ndarray:
    """The first audio stream of ``video`` as 16 kHz mono float32 in [-1, 1]."""
    import av

    try:
        container = av.open(str(video))
    except (av.error.FFmpegError, OSError) as exc:
        raise InvalidVideo(f"{video.name}: cannot be opened ({exc})") from None
    with container:
        if not container.streams.audio:
            raise InvalidVideo(f"{video.name} has no audio track")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks = []
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise InvalidVideo(f"{video.name}: the audio track is empty")
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def relative_motion(values: np.ndarray) -> np.ndarray:
    """Pose relative to the clip's rest pose: median-centred angles/offsets, scale / median."""
    out = np.array(values, np.float32, copy=True)
    for name in ("yaw", "pitch", "roll", "tx", "ty"):
        col = M.index(name)
        out[:, col] -= np.median(out[:, col])
    col = M.index("scale")
    out[:, col] /= max(1e-6, float(np.median(out[:, col])))
    return out


def resample_motion(values: np.ndarray, fps_in: float, frames_out: int, fps_out: float = FPS) -> np.ndarray:
    """(frames_out, D) motion at ``fps_out`` by linear interpolation between frame centres.

    Frames beyond either end repeat the nearest frame (the audio may be a frame longer).
    """
    x = np.clip((np.arange(frames_out) + 0.5) / fps_out * fps_in - 0.5, 0, len(values) - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, len(values) - 1)
    w = (x - i0)[:, None]
    return (values[i0] * (1 - w) + values[i1] * w).astype(np.float32)


def split_of_video(stem: str, stems: list[str]) -> str:
    """ "val" for ~10% of videos, chosen by a hash of the name (at least one when there are two)."""
    ranked = sorted(stems, key=lambda s: zlib.crc32(s.encode()))
    n_val = max(1, round(VAL_FRACTION * len(stems))) if len(stems) >= 2 else 0
    return "val" if stem in ranked[:n_val] else "train"


def build_from_videos(
    video_dir: Path,
    out: Path,
    *,
    on_progress: Callable[[str, float], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> dict:
    """Turn every video in ``video_dir`` into one utterance of a corpus in ``out`` (resumable).

    Videos already in the manifest are skipped; a video the extractor or decoder rejects is
    reported through ``on_skip(name, reason)`` and left out. Returns counts.
    """
    video_dir, out = Path(video_dir), Path(out)
    if not video_dir.is_dir():
        raise InvalidInput(f"not a folder: {video_dir}")
    videos = sorted(p for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise InvalidInput(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {video_dir}")
    from candor.generator.extract import extract_motion  # mediapipe: imported only when needed

    (out / "utts").mkdir(parents=True, exist_ok=True)
    entries = read_manifest(out)
    done = {e["id"] for e in entries}
    stems = [v.stem for v in videos]
    writer = ManifestWriter(out, entries)
    made = skipped = 0
    try:
        for i, video in enumerate(videos):
            uid = f"v{i:05d}-" + re.sub(r"[^A-Za-z0-9_-]+", "_", video.stem)[:40]
            if uid in done:
                continue
            try:
                audio = read_audio(video)
                seq = extract_motion(video)  # at the video's own frame rate
            except CandorError as exc:
                skipped += 1
                if on_skip:
                    on_skip(video.name, exc.detail)
                continue
            duration = len(audio) / SAMPLE_RATE
            n = frame_count(len(audio))
            # Resampled to 25 fps over the audio's length (containers often differ by a frame).
            motion = resample_motion(relative_motion(seq.values), seq.fps, n)
            gaze = np.median(motion[:, M.GAZE_SLICE], axis=0)
            controls = Controls(gaze_yaw=float(np.clip(gaze[0], -30, 30)), gaze_pitch=float(np.clip(gaze[1], -20, 20)))
            rel = f"utts/{uid}.npz"
            write_utterance(
                out / rel,
                audio=audio,
                motion=motion,
                controls=controls,
                phonemes=[],
                mouth_open=motion[:, M.index("jawOpen")],
            )
            writer.append(
                {
                    "id": uid,
                    "split": split_of_video(video.stem, stems),
                    "engine": "video",
                    "voice": f"video:{video.stem}",
                    "language": "und",
                    "text": "",
                    "duration_s": round(duration, 7),
                    "fps": FPS,
                    "emotion": "neutral",
                    "intensity": 0.0,
                    "gaze_yaw": round(controls.gaze_yaw, 3),
                    "gaze_pitch": round(controls.gaze_pitch, 3),
                    "distance": 1.0,
                    "file": rel,
                    "source": video.name,
                }
            )
            made += 1
            if on_progress:
                on_progress(video.name, duration)
    finally:
        writer.close()
    return {"videos": len(videos), "made": made, "skipped": skipped, "utterances": len(read_manifest(out))}
