"""Identity-match figures: false accepts and false rejects of the consent face check, and its cost.

    .venv/bin/python benchmarks/identity.py                 # the default threshold (identity.MATCH_THRESHOLD)
    .venv/bin/python benchmarks/identity.py --threshold 0.6

1. Two real identities with full-resolution photos ship offline: the astronaut (scikit-image) and
   Grace Hopper (matplotlib). Each becomes a reference (the original photo) and a set of variants
   that the subject's own later portraits could be: mirror, off-centre crops, JPEG quality 20-50,
   darker/brighter/low-contrast lighting, blur, noise, a small rotation, grayscale, and painting-
   like stylizations (OpenCV stylization, edge-preserving, pencil sketch in colour, a cartoon).
   Plus Candor's own renderer re-posing each photo (yaw +-20, pitch +-15, roll +-10 degrees, jaw
   open, smile, blink, gaze; the cases of benchmarks/extreme_motions.py): pose and expression
   changes of the same face, which edits of one photo cannot give.
2. Genuine pairs: reference vs each variant of the same person. Impostor pairs: each reference vs
   every variant of the other identity, and each reference vs the 100 faces of scikit-image's
   ``lfw_subset`` (25x25 grayscale crops of LFW people, upsampled to 150x150; low resolution, so
   these impostors are harder than real photos, not easier).
3. Prints the distance ranges, FAR and FRR at the threshold, the pair counts, and the time per
   embedding (dlib HOG detection + 68 landmarks + ResNet, one thread).

Limits: two genuine identities is not a population; it says the check holds on these people under
these edits, not how it does across ages, skin tones or masks. The README states this.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import cv2
import matplotlib.cbook
import numpy as np
import skimage.data
from PIL import Image

from candor.errors import NoFaceFound
from candor.generator.identity import MATCH_THRESHOLD, embed_face, identity_distance


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        return np.asarray(img.convert("RGB"))


def _crop(image: np.ndarray, fx0: float, fy0: float, fx1: float, fy1: float) -> np.ndarray:
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[int(fy0 * h) : int(fy1 * h), int(fx0 * w) : int(fx1 * w)])


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _cartoon(image: np.ndarray) -> np.ndarray:
    smooth = cv2.bilateralFilter(image, 9, 75, 75)
    edges = cv2.adaptiveThreshold(
        cv2.medianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 7),
        255,
        cv2.ADAPTIVE_THRESH_MEAN_C,
        cv2.THRESH_BINARY,
        9,
        2,
    )
    return cv2.bitwise_and(smooth, smooth, mask=edges)


def variants(image: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Same-person edits of one photo (RGB uint8), by name."""
    rng = np.random.default_rng(seed)
    f = image.astype(np.float32)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return {
        "mirror": np.ascontiguousarray(image[:, ::-1]),
        "crop-left": _crop(image, 0.0, 0.0, 0.85, 0.9),
        "crop-right": _crop(image, 0.12, 0.05, 1.0, 1.0),
        "crop-tight": _crop(image, 0.15, 0.05, 0.85, 0.8),
        "jpeg-20": _jpeg(image, 20),
        "jpeg-50": _jpeg(image, 50),
        "dark": np.clip(f * 0.45, 0, 255).astype(np.uint8),
        "bright": np.clip(f * 1.4 + 20, 0, 255).astype(np.uint8),
        "low-contrast": np.clip((f - 128) * 0.5 + 128, 0, 255).astype(np.uint8),
        "warm-light": np.clip(f * np.array([1.2, 1.0, 0.75]), 0, 255).astype(np.uint8),
        "blur": cv2.GaussianBlur(image, (0, 0), 2.0),
        "noise": np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8),
        "rotate-8": _rotate(image, 8.0),
        "half-size": cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
        "grayscale": np.stack([gray] * 3, axis=-1),
        "stylization": cv2.stylization(image, sigma_s=60, sigma_r=0.45),
        "edge-preserving": cv2.edgePreservingFilter(image, flags=1, sigma_s=60, sigma_r=0.4),
        "pencil-colour": cv2.pencilSketch(image, sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1],
        "cartoon": _cartoon(image),
    }


def rendered(image: np.ndarray) -> dict[str, np.ndarray]:
    """The portrait re-posed and re-expressed by Candor's renderer (512x512 frames), by case."""
    from extreme_motions import CASES, motion_for

    from candor.generator.face import analyze_image
    from candor.generator.render import FaceRenderer
    from candor.generator.rig import pose_target

    source = analyze_image(image)
    renderer = FaceRenderer(source)
    return {
        f"render {label}": renderer.render(pose_target(source, motion_for(source.baseline, changes)))
        for label, changes in CASES[1:]
    }


STYLIZED = frozenset({"stylization", "edge-preserving", "pencil-colour", "cartoon"})


def _kind(label: str) -> str:
    return "render" if label.startswith("render") else "stylized" if label in STYLIZED else "edit"


def load_identities() -> dict[str, np.ndarray]:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
        grace = np.asarray(img.convert("RGB"))
    return {"astronaut": skimage.data.astronaut(), "grace_hopper": grace}


def load_lfw_faces() -> list[np.ndarray]:
    """The 100 face crops of scikit-image's lfw_subset (the other 100 are non-faces), as 150x150 RGB."""
    path = os.path.join(os.path.dirname(skimage.data.__file__), "lfw_subset.npy")
    faces = np.load(path)[:100]
    out = []
    for face in faces:
        big = cv2.resize((face * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)
        out.append(np.stack([big] * 3, axis=-1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=MATCH_THRESHOLD)
    args = parser.parse_args()
    cv2.setNumThreads(1)

    identities = load_identities()
    embed_face(identities["astronaut"])  # load the models outside the timing
    references: dict[str, np.ndarray] = {}
    edited: dict[str, dict[str, np.ndarray | None]] = {}
    times: list[float] = []
    for seed, (name, image) in enumerate(identities.items()):
        references[name] = embed_face(image).embedding
        edited[name] = {}
        for label, variant in {**variants(image, seed), **rendered(image)}.items():
            start = time.perf_counter()
            try:
                edited[name][label] = embed_face(variant).embedding
            except NoFaceFound:
                edited[name][label] = None  # the enrolment would fail as "no face", not as a match
            times.append(time.perf_counter() - start)
    lfw: list[np.ndarray] = []
    for face in load_lfw_faces():
        start = time.perf_counter()
        # The crop is the face: frame it whole when the detector finds nothing at 150 px.
        lfw.append(embed_face(face, box_xyxy=(0, 0, 149, 149)).embedding)
        times.append(time.perf_counter() - start)

    genuine: list[tuple[str, str, float]] = []
    impostor_photo: list[tuple[str, str, float]] = []
    for name, ref in references.items():
        for label, emb in edited[name].items():
            if emb is None:
                print(f"  {name}/{label}: no face found (refused as no-face, not counted)")
                continue
            genuine.append((name, label, identity_distance(ref, emb)))
        for other, variants_of_other in edited.items():
            if other == name:
                continue
            impostor_photo.append((name, f"{other}/reference", identity_distance(ref, references[other])))
            for label, emb in variants_of_other.items():
                if emb is not None:
                    impostor_photo.append((name, f"{other}/{label}", identity_distance(ref, emb)))
    impostor_lfw = [
        (name, f"lfw/{i}", identity_distance(ref, e)) for name, ref in references.items() for i, e in enumerate(lfw)
    ]

    t = args.threshold
    g = np.array([d for *_, d in genuine])
    ip = np.array([d for *_, d in impostor_photo])
    il = np.array([d for *_, d in impostor_lfw])
    print(f"threshold {t:.2f} (match when distance < threshold)")
    print(f"genuine pairs      {len(g):4d}  distance {g.min():.3f}-{g.max():.3f} (median {np.median(g):.3f})")
    print(f"  false rejects    {int((g >= t).sum()):4d}  FRR {(g >= t).mean():.1%}")
    kinds = {"photographic edits": "edit", "painting-like filters": "stylized", "rendered poses/expressions": "render"}
    for kind, key in kinds.items():
        part = np.array([d for _, label, d in genuine if _kind(label) == key])
        print(
            f"  {kind:22s} {len(part):3d} pairs, distance {part.min():.3f}-{part.max():.3f}, "
            f"false rejects {int((part >= t).sum())} (FRR {(part >= t).mean():.1%})"
        )
    for name, label, d in sorted(genuine, key=lambda x: -x[2])[:8]:
        print(f"    worst genuine  {name}/{label}: {d:.3f}")
    print(f"impostor pairs (photos) {len(ip):4d}  distance {ip.min():.3f}-{ip.max():.3f}")
    print(f"  false accepts    {int((ip < t).sum()):4d}  FAR {(ip < t).mean():.1%}")
    for name, label, d in sorted(impostor_photo, key=lambda x: x[2])[:4]:
        print(f"    closest impostor  {name} vs {label}: {d:.3f}")
    print(f"impostor pairs (lfw_subset, low-res) {len(il):4d}  distance {il.min():.3f}-{il.max():.3f}")
    print(f"  false accepts    {int((il < t).sum()):4d}  FAR {(il < t).mean():.1%}")
    for name, label, d in sorted(impostor_lfw, key=lambda x: x[2])[:3]:
        print(f"    closest impostor  {name} vs {label}: {d:.3f}")
    for name, label, d in sorted(genuine, key=lambda x: x[2])[:3]:
        print(f"    closest genuine  {name}/{label}: {d:.3f}")
    median_ms, p90_ms = np.median(times) * 1e3, np.percentile(times, 90) * 1e3
    print(f"embedding time: median {median_ms:.0f} ms, p90 {p90_ms:.0f} ms a face ({len(times)} faces)")


if __name__ == "__main__":
    main()
