"""The HTML report of one scan: verdict, evidence, the per-second timeline as a plot, and the most
suspicious face crops. One self-contained file (images embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from candor.detector.timeline import CUE_WORDS
from candor.detector.verdict import DetectionReport, Verdict
from candor.files import atomic_write_text

_COLOURS = {
    Verdict.CANDOR_PROVEN: "#7a1fa2",
    Verdict.SYNTHETIC_CLASSIFIER: "#c62828",
    Verdict.NO_EVIDENCE: "#2e7d32",
    Verdict.CANNOT_ANALYSE: "#616161",
}


def _png(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def timeline_png(report: DetectionReport) -> str | None:
    """The per-second probability with the threshold, as base64 PNG (None without a classifier result)."""
    if report.classifier is None or not report.classifier.timeline:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = report.classifier.timeline
    seconds = [p["second"] + 0.5 for p in points]
    probs = [p["probability"] for p in points]
    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=100)
    ax.bar(
        seconds, probs, width=0.9, color=["#c62828" if p >= report.classifier.threshold else "#90a4ae" for p in probs]
    )
    ax.axhline(report.classifier.threshold, color="black", lw=1, ls="--", label="threshold")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(report.video.get("duration_s", 1.0), seconds[-1] + 0.5))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P(synthetic)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def render_html(report: DetectionReport) -> str:
    """The report as one HTML document. Every value is escaped: file names, manifest fields and
    container metadata come from the uploaded video, so any of them may carry markup."""

    def e(value: object) -> str:
        return html.escape(str(value))

    colour = _COLOURS[report.verdict]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Candor detection report</title>",
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
        "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
        ".verdict{font-size:1.6em;font-weight:bold;color:" + colour + "}figure{display:inline-block;margin:4px}"
        "figcaption{font-size:0.8em;text-align:center}</style></head><body>",
        f"<h1>Detection report</h1><p>{e(Path(report.path).name)}</p>",
        f"<p class='verdict'>{e(report.label)}</p><p>{e(report.reason or '')}</p>",
    ]
    if report.generation:
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in report.generation.items())
        parts.append(f"<h2>Generation</h2><table>{rows}</table>")
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{e(ev.kind)}</td><td>{e(ev.strength)}</td><td>{e(ev.finding)}</td></tr>"
        for i, ev in enumerate(report.evidence)
    )
    parts.append(
        "<h2>Evidence (strongest first)</h2><table><tr><th>#</th><th>kind</th><th>strength</th><th>finding</th></tr>"
        f"{rows}</table>"
    )
    plot = timeline_png(report)
    if plot and report.classifier is not None:
        c = report.classifier
        parts.append("<h2>Classifier timeline</h2>")
        parts.append(f"<img alt='timeline' src='data:image/png;base64,{plot}'>")
        parts.append(
            f"<p>P(synthetic) = {c.probability:.3f}, threshold {c.threshold:.3f}; {e(c.samples)} face samples of "
            f"{e(c.sampled_frames)} sampled frames ({c.sample_fps:g}/s); "
            f"calibration: {e(c.calibration.get('method', ''))} "
            f"on {e(c.calibration.get('fitted_on'))} held-out clips. This is statistical evidence, not proof.</p>"
        )
    if report.classifier is not None:
        c = report.classifier
        if c.segments:
            rows = "".join(
                f"<tr><td>{e(g['start_s'])}-{e(g['end_s'])} s</td><td>{e(g['seconds'])}</td>"
                f"<td>{float(g['probability']):.2f} (peak {float(g['peak_probability']):.2f})</td>"
                f"<td>{e(CUE_WORDS.get(g['cue'], g['cue']) if g['cue'] else '-')}</td></tr>"
                for g in c.segments
            )
            parts.append(
                "<h2>Segments over the threshold</h2><p>Leads for review: the verdict is calibrated on whole "
                "clips, a second's score on fewer samples.</p><table><tr><th>time</th><th>seconds</th>"
                f"<th>P(synthetic)</th><th>carried mostly by</th></tr>{rows}</table>"
            )
        if c.cues:
            rows = "".join(
                f"<tr><td>{e(CUE_WORDS.get(name, name))}</td><td>{share:+.2f}</td></tr>"
                for name, share in c.cues.items()
            )
            parts.append(
                "<h2>What carries the score</h2><p>Each cue's share of the whole video's score in logits "
                "(positive: towards synthetic).</p>"
                f"<table><tr><th>cue</th><th>share</th></tr>{rows}</table>"
            )
        parts.append(f"<p><b>Trained on:</b> {e(c.trained_on)}</p>")
    if report.suspicious_crops and report.classifier is not None:
        parts.append("<h2>Most suspicious frames (aligned face crops)</h2><div>")
        for crop, info in zip(report.suspicious_crops, report.classifier.suspicious, strict=False):
            parts.append(
                f"<figure><img width='128' height='128' src='data:image/png;base64,{_png(crop)}'>"
                f"<figcaption>{float(info['second']):.2f} s &middot; P {float(info['probability']):.2f}</figcaption>"
                "</figure>"
            )
        parts.append("</div>")
    video = report.video
    if video:
        parts.append(
            f"<p style='color:#666'>{e(video.get('width'))}x{e(video.get('height'))}, {e(video.get('fps'))} fps, "
            f"{e(video.get('duration_s'))} s; scanned in {report.seconds:.1f} s.</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: DetectionReport, out_path: str | Path) -> Path:
    """Write :func:`render_html` to ``out_path`` atomically; returns the path."""
    out = Path(out_path)
    atomic_write_text(out, render_html(report))
    return out
