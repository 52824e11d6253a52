"""Candor's invisible watermark: payload code, keys, round trips, a quick robustness subset, no false alarms."""

from __future__ import annotations

import io
import os
import stat

import cv2
import numpy as np
import pytest
from skimage import data

from candor.errors import InvalidInput, InvalidVideo
from candor.provenance.watermark import (
    PAYLOAD_SERIAL_BITS,
    WATERMARK_ALG,
    WatermarkDetection,
    WatermarkEmbedder,
    WatermarkKey,
    bch,
    binding_value,
    detect_frames,
    detect_video,
    embed_video,
)
from candor.provenance.watermark.detect import whiten
from candor.provenance.watermark.payload import decode_payload, encode_payload, false_positive_bound

KEY = WatermarkKey.from_bytes(b"test-watermark-key-0123456789abcdef")
SERIAL = 0xC0FFEE42
N_FRAMES = 50  # 2 s at 25 fps: enough for the clip statistics, quick to encode


def _moving(image: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """A talking-head-like clip: a feathered ellipse around the face moves, the background stays."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - w / 2) / (0.3 * w)) ** 2 + ((yy - 0.45 * h) / (0.4 * h)) ** 2 < 1
    mask = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 12)[..., None]
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 6.28, 3)
    frames = []
    for t in range(n):
        s = t / 25
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.5 * np.sin(1.9 * s + ph[0]), 1.03)
        m[:, 2] += (4 * np.sin(2.5 * s + ph[1]), 3 * np.sin(1.6 * s + ph[2]))
        moved = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        frames.append(np.rint(mask * moved + (1 - mask) * image).astype(np.uint8))
    return frames


def _encode(frames: list[np.ndarray], crf: int, fps: int = 25) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        st.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            out.mux(st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(st.encode(None))
    return buf.getvalue()


def _decode(blob: bytes) -> list[np.ndarray]:
    import av

    with av.open(io.BytesIO(blob)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def clean_clip() -> list[np.ndarray]:
    return _moving(data.astronaut(), N_FRAMES, seed=0)


@pytest.fixture(scope="module")
def delivered(clean_clip) -> list[np.ndarray]:
    """The clip as Candor delivers it: marked, then H.264 CRF 18."""
    emb = WatermarkEmbedder(KEY, SERIAL)
    return _decode(_encode([emb.embed(f) for f in clean_clip], 18))


# -- payload and key ----------------------------------------------------------------------------


def test_public_constants():
    assert WATERMARK_ALG == "com.candor.watermark.ss1"
    assert PAYLOAD_SERIAL_BITS >= 32
    assert binding_value(SERIAL) == "c0ffee42"
    with pytest.raises(InvalidInput):
        binding_value(-1)
    with pytest.raises(InvalidInput):
        binding_value(1 << PAYLOAD_SERIAL_BITS)


def test_bch_corrects_up_to_t_errors_and_refuses_random_words():
    rng = np.random.default_rng(1)
    for n_err in (0, 1, 7, bch.T):
        msg = rng.integers(0, 2, bch.K).astype(np.uint8)
        word = bch.encode(msg)
        word[rng.choice(bch.N, n_err, replace=False)] ^= 1
        decoded = bch.decode(word)
        assert decoded is not None
        assert np.array_equal(decoded[0], msg)
        assert decoded[1] == n_err
    refused = sum(bch.decode(rng.integers(0, 2, bch.N).astype(np.uint8)) is None for _ in range(300))
    assert refused == 300  # a random word is within 13 errors of a codeword with p ~ 2.3e-5


def test_payload_round_trip_and_keyed_check():
    soft = encode_payload(KEY, SERIAL).astype(np.float64)
    assert decode_payload(KEY, soft)[0] == (SERIAL, 0)
    soft[:10] *= -1  # ten bit errors
    assert decode_payload(KEY, soft)[0] == (SERIAL, 10)
    other = WatermarkKey.from_bytes(b"another-key-entirely-0123456789ab")
    assert decode_payload(other, soft)[0] is None  # other whitening and check: nothing decodes
    assert false_positive_bound() < 1e-11


def test_key_from_secret_creates_private_dev_secret(tmp_path):
    key = WatermarkKey.from_secret(None, dev_secret_dir=tmp_path, production=False)
    secret_file = tmp_path / "watermark.secret"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert WatermarkKey.from_secret(None, dev_secret_dir=tmp_path, production=False).key_id == key.key_id  # stable
    explicit = WatermarkKey.from_secret("s" * 32, dev_secret_dir=tmp_path, production=False)
    assert explicit.key_id != key.key_id
    with pytest.raises(InvalidInput, match="WATERMARK_SECRET"):
        WatermarkKey.from_secret(None, dev_secret_dir=tmp_path / "prod", production=True)
    assert not (tmp_path / "prod" / "watermark.secret").exists()


def test_key_from_settings_uses_the_dev_secret_only_for_the_placeholder(tmp_path):
    from candor.config import Settings
    from candor.services.container import watermark_key

    settings = Settings(data_dir=tmp_path, environment="development")
    key = watermark_key(settings)
    assert stat.S_IMODE(os.stat(tmp_path / "watermark.secret").st_mode) == 0o600
    assert watermark_key(settings).key_id == key.key_id  # stable across calls
    explicit = watermark_key(Settings(data_dir=tmp_path, watermark_secret="s" * 32))
    assert explicit.key_id != key.key_id
    assert explicit == WatermarkKey.from_secret("s" * 32, dev_secret_dir=tmp_path, production=False)
    with pytest.raises(ValueError, match="WATERMARK_SECRET"):
        Settings(environment="production", secret_key="x" * 32)
    with pytest.raises(InvalidInput):
        WatermarkKey.from_bytes(b"short")


# -- embedding -------------------------------------------------------------------------------


def test_embed_is_invisible_and_rejects_bad_frames(clean_clip):
    emb = WatermarkEmbedder(KEY, SERIAL)
    marked = emb.embed(clean_clip[0])
    assert marked.shape == clean_clip[0].shape and marked.dtype == np.uint8
    mse = np.mean((marked.astype(np.float64) - clean_clip[0]) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 39.5
    # luma only: the chroma difference between channels is untouched where nothing clipped
    diff = marked.astype(np.int16) - clean_clip[0]
    unclipped = (clean_clip[0] > 10).all(axis=2) & (clean_clip[0] < 245).all(axis=2)
    assert np.array_equal(diff[..., 0][unclipped], diff[..., 1][unclipped])
    with pytest.raises(InvalidInput):
        emb.embed(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InvalidInput):
        emb.embed(np.zeros((128, 128), np.uint8))


# -- detection --------------------------------------------------------------------------------


def test_round_trip_through_delivery(delivered):
    det = detect_frames(delivered, KEY)
    assert det.found and det.serial == SERIAL
    assert det.bit_accuracy is not None and det.bit_accuracy > 0.9
    assert det.confidence > 1 - 1e-6
    assert det.frames_used == N_FRAMES
    assert det.to_dict()["serial"] == SERIAL


def test_survives_crf28_reencode(delivered):
    det = detect_frames(_decode(_encode(delivered, 28)), KEY)
    assert (det.found, det.serial) == (True, SERIAL)


def test_survives_crf32_reencode_and_the_combined_attack(delivered):
    det = detect_frames(_decode(_encode(delivered, 32)), KEY)
    assert (det.found, det.serial) == (True, SERIAL)
    # CRF 28 at 384x384, then a 5% centre crop
    small = _decode(_encode([cv2.resize(f, (384, 384), interpolation=cv2.INTER_AREA) for f in delivered], 28))
    det = detect_frames([f[9:374, 9:374] for f in small], KEY)
    assert (det.found, det.serial) == (True, SERIAL)
    assert det.scale is not None and abs(det.scale[0] - 0.75) < 0.01


def test_whitening_is_blind_to_level_and_flat_areas():
    flat = np.full((256, 256), 90.0, np.float32)
    assert np.abs(whiten(flat)).max() < 1e-4  # no texture, nothing to weigh
    rng = np.random.default_rng(0)
    tex = rng.normal(0, 1, (256, 256)).astype(np.float32)
    tex[:, 128:] *= 30  # a strongly textured half must not outweigh the faint half
    w = whiten(tex + 100)
    np.testing.assert_allclose(w, whiten(tex), atol=1e-3)  # a brightness offset changes nothing
    left, right = np.abs(w[:, 16:112]).mean(), np.abs(w[:, 144:240]).mean()
    assert left > right  # inverse-power weighting: the 30x stronger half does not dominate the sum


def test_survives_downscale_to_256_and_back(delivered):
    frames = [cv2.resize(cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA), (512, 512)) for f in delivered]
    det = detect_frames(frames, KEY)
    assert (det.found, det.serial) == (True, SERIAL)


def test_survives_off_center_crop(delivered):
    det = detect_frames([f[37:437, 61:461] for f in delivered], KEY)
    assert (det.found, det.serial) == (True, SERIAL)
    assert det.offset == (37, 61)


def test_clean_video_and_wrong_key_say_no_watermark(clean_clip, delivered):
    clean = detect_frames(_decode(_encode(clean_clip, 18)), KEY)
    assert not clean.found and clean.serial is None and clean.confidence == 0.0
    wrong = detect_frames(delivered, WatermarkKey.from_bytes(b"not-the-service-key-0123456789ab"))
    assert not wrong.found
    assert isinstance(wrong, WatermarkDetection)


def test_embed_video_and_detect_video_keep_audio(tmp_path, clean_clip):
    import av

    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 512, 512, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        for f in clean_clip[:25]:
            out.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        tone = (0.1 * np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for i in range(0, 16000, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, i : i + 1024], format="flt", layout="mono")
            frame.sample_rate = 16000
            out.mux(a.encode(frame))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    dst = tmp_path / "out.mp4"
    embed_video(src, dst, KEY, 77)
    with av.open(str(dst)) as c:
        assert len(c.streams.audio) == 1 and c.streams.video[0].frames == 25
    det = detect_video(dst, KEY)
    assert (det.found, det.serial, det.frames_used) == (True, 77, 25)
    assert not detect_video(src, KEY).found
    assert list(tmp_path.glob(".out.mp4.*")) == []  # no temp file left behind
    assert stat.S_IMODE(dst.stat().st_mode) == 0o644  # a published video
    with pytest.raises(InvalidVideo):
        detect_video(tmp_path / "missing.mp4", KEY)
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(InvalidVideo):
        embed_video(tmp_path / "junk.mp4", tmp_path / "x.mp4", KEY, 1)


def test_cli_detects_and_offers_no_free_standing_embedder(tmp_path, clean_clip, monkeypatch):
    from typer.testing import CliRunner

    from candor.cli import app
    from candor.config import get_settings
    from candor.services.container import watermark_key

    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CANDOR_WATERMARK_SECRET", "cli-test-watermark-secret-0123456789")
    get_settings.cache_clear()
    src = tmp_path / "in.mp4"
    src.write_bytes(_encode(clean_clip[:25], 18))
    runner = CliRunner()
    try:
        # Marking is the release path's alone: no command embeds an arbitrary serial.
        res = runner.invoke(app, ["watermark", "embed", str(src), "--serial", "4242", "-o", str(tmp_path / "o.mp4")])
        assert res.exit_code != 0 and not (tmp_path / "o.mp4").exists()
        embed_video(src, tmp_path / "o.mp4", watermark_key(get_settings()), 4242)
        res = runner.invoke(app, ["watermark", "detect", str(tmp_path / "o.mp4"), "--json"])
        assert res.exit_code == 0, res.output
        assert '"serial": 4242' in res.stdout
        res = runner.invoke(app, ["watermark", "detect", str(src)])
        assert res.exit_code == 1 and "no watermark" in res.stdout
        res = runner.invoke(app, ["watermark", "detect", str(tmp_path / "nope.mp4")])
        assert res.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_tiny_or_blank_input_is_not_a_watermark():
    tiny = detect_frames([np.full((24, 40, 3), 128, np.uint8)] * 3, KEY)
    assert not tiny.found and tiny.frames_used == 3
    assert not detect_frames([np.zeros((256, 256, 3), np.uint8)] * 3, KEY).found
    with pytest.raises(InvalidInput):
        detect_frames([], KEY)
    assert WatermarkKey.from_bytes(b"x" * 20) == WatermarkKey.from_bytes(b"x" * 20)
