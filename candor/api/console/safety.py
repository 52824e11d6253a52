"""Trust and safety (scope ``detect``): drop a video (or name one of the partner's generations
already stored), get the verdict with its evidence and a per-second timeline of the classifier (a
server-drawn SVG, no chart library: segments over the threshold shaded, their cue named in words);
the scan history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from candor.api.console.web import PREFIX, PostingViewer, ViewerDep, page_error, redirect, render
from candor.api.deps import SessionDep, StateDep
from candor.api.media import VIDEO_TYPES, check_video_content, media_type_of, read_upload, upload_name
from candor.detector.timeline import CUE_WORDS
from candor.errors import CandorError
from candor.services import console as console_services
from candor.services import detections

router = APIRouter(prefix="/detect")

PLOT_W, PLOT_H, PAD = 640, 180, 36  # SVG user units


def timeline_plot(classifier: dict[str, Any] | None) -> dict[str, Any] | None:
    """Points of the per-second P(synthetic) plot in SVG coordinates, with the threshold line."""
    if not classifier or not classifier.get("timeline"):
        return None
    points = classifier["timeline"]
    last = max(p["second"] for p in points) + 1.0
    inner_w, inner_h = PLOT_W - 2 * PAD, PLOT_H - 2 * PAD

    def x(second: float) -> float:
        return round(PAD + inner_w * (second + 0.5) / last, 1)

    def y(probability: float) -> float:
        return round(PAD + inner_h * (1.0 - probability), 1)

    marks = [{"x": x(p["second"]), "y": y(p["probability"]), **p} for p in points]
    segments = [
        {
            **g,
            "x": round(PAD + inner_w * g["start_s"] / last, 1),
            "w": round(inner_w * (g["end_s"] - g["start_s"]) / last, 1),
            "cue_words": cue_words(g.get("cue")),
        }
        for g in classifier.get("segments") or []
    ]
    return {
        "width": PLOT_W,
        "height": PLOT_H,
        "pad": PAD,
        "bottom": PLOT_H - PAD,
        "right": PLOT_W - PAD,
        "polyline": " ".join(f"{m['x']},{m['y']}" for m in marks),
        "marks": marks,
        "threshold_y": y(classifier["threshold"]),
        "threshold": classifier["threshold"],
        "seconds": last,
        "segments": segments,
    }


def cue_words(cue: str | None) -> str:
    """A cue's name in words a reviewer can act on (the detector's CUE_WORDS)."""
    if not cue:
        return "no single cue"
    return CUE_WORDS.get(cue, cue)


@router.get("")
def detect_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    partner = viewer.tenant("detect")
    history = [detections.detection_record(d) for d in detections.list_detections(session=session, partner=partner)]
    return render(
        request, "detect.html", viewer, history=history, accept=",".join(VIDEO_TYPES), stored=viewer.has("generate")
    )


@router.post("")
async def scan(
    session: SessionDep, state: StateDep, viewer: PostingViewer, video: Annotated[UploadFile, File()]
) -> Response:
    partner = viewer.tenant("detect")
    try:
        declared = media_type_of(video, VIDEO_TYPES, "video")
        data = await read_upload(video, state.settings.max_upload_bytes, "video")
        check_video_content(data, declared)
    except CandorError as exc:
        raise page_error(exc) from None

    def work() -> str:
        try:
            return detections.scan_video(
                session=session, log=state.ledger, files=state.files, verifier=state.verifier,
                classifier=state.classifier(), partner=partner, data=data, filename=upload_name(video),
                max_bytes=state.settings.max_upload_bytes,
            ).id  # fmt: skip
        except CandorError as exc:
            raise page_error(exc) from None

    detection_id = await run_in_threadpool(work)
    return redirect(f"{PREFIX}/detect/{detection_id}")


@router.post("/stored")
async def scan_stored(
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    source: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Scan one of the partner's own generations already in the store (by id or URL): reading its
    video needs ``generate`` as well as ``detect``, as the API's download does."""
    partner = viewer.tenant("detect")
    viewer.tenant("generate")

    def work() -> str:
        try:
            generation_id, data = console_services.stored_generation_video(
                session=session, files=state.files, partner=partner, reference=source
            )
            return detections.scan_video(
                session=session, log=state.ledger, files=state.files, verifier=state.verifier,
                classifier=state.classifier(), partner=partner, data=data, filename=f"{generation_id}.mp4",
                max_bytes=state.settings.max_upload_bytes,
            ).id  # fmt: skip
        except CandorError as exc:
            raise page_error(exc) from None

    detection_id = await run_in_threadpool(work)
    return redirect(f"{PREFIX}/detect/{detection_id}")


@router.get("/{detection_id}")
def detection_page(request: Request, session: SessionDep, viewer: ViewerDep, detection_id: str) -> Response:
    partner = viewer.tenant("detect")
    try:
        detection = detections.get_detection(session=session, partner=partner, detection_id=detection_id)
    except CandorError as exc:
        raise page_error(exc) from None
    record = detections.detection_record(detection)
    cues = [
        {"name": name, "words": cue_words(name), "share": share}
        for name, share in ((record.get("classifier") or {}).get("cues") or {}).items()
    ]
    return render(request, "detection.html", viewer, d=record, plot=timeline_plot(record.get("classifier")), cues=cues)
