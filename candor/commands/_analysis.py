"""Portrait analysis in a process of its own, begun before a command loads its models.

`candor generate` starts it first thing: mediapipe's import and graph (~0.5 s on the 2-core
machine, 1.2 s on a slower one) then run on the otherwise idle core while this process imports
torch, instead of after it. A child Python started with ``-m`` (not ``multiprocessing``): nothing
re-imports the caller's main module.

Protocol: the request is the child's one argument, JSON (image, keep_framing, face); its stdout
carries one pickle, ``("ok", SourceFace)`` or ``("error", error type name, detail)``.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from candor.generator.face import SourceFace


class PortraitAnalysis:
    """``with PortraitAnalysis(image, keep_framing, face) as analysis: ... source = analysis.result()``.

    The child starts at once (``image``: a path or ``bundled:NAME``); :meth:`result` waits for its
    SourceFace, raising the analysis's own errors (no face, an unreadable file) as their Candor
    error types. Leaving the block stops a child whose result was never asked for.
    """

    def __init__(self, image: str, keep_framing: bool, face: int | None) -> None:
        request = json.dumps({"image": image, "keep_framing": keep_framing, "face": face})
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "candor.commands._analysis", request],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def __enter__(self) -> PortraitAnalysis:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()

    def result(self) -> SourceFace:
        from candor import errors

        out, err = self._proc.communicate()
        try:
            answer = pickle.loads(out)  # our own child's answer
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
            lines = err.decode(errors="replace").strip().splitlines() or [f"exit code {self._proc.returncode}"]
            raise errors.CandorError(f"the portrait analysis process failed: {lines[-1]}") from None
        if answer[0] == "ok":
            return answer[1]
        cls = getattr(errors, answer[1], None)
        if not (isinstance(cls, type) and issubclass(cls, errors.CandorError)):
            cls = errors.CandorError
        raise cls(answer[2])


def _serve() -> int:
    from candor.commands.generator import _image_arg
    from candor.errors import CandorError
    from candor.generator.face import analyze_image

    request = json.loads(sys.argv[1])
    try:
        source = analyze_image(
            _image_arg(request["image"]), keep_framing=request["keep_framing"], face_index=request["face"]
        )
        answer: tuple = ("ok", source)
    except CandorError as exc:
        answer = ("error", type(exc).__name__, exc.detail)
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    # No interpreter teardown (mediapipe's graphs and threads, every module): the caller waits for
    # this process's end, and there is nothing left to save (0.1-0.2 s on the 2-core machine).
    os._exit(_serve())
