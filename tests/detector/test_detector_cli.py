"""`candor detect` exit codes, JSON and HTML report; `candor detector` sub-commands; the external layout."""

from __future__ import annotations

import json
import re
import shutil

from typer.testing import CliRunner

from candor.cli import app

runner = CliRunner()


def test_detect_real_clip_writes_json_and_an_html_report(real_clip, tmp_path):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["detect", str(real_clip), "--json", "--report", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "no_evidence" and data["classifier"]["timeline"]
    html = out.read_text()
    assert "no evidence of synthesis" in html
    assert html.count("data:image/png;base64,") >= 2  # the timeline plot and at least one face crop


def test_detect_prints_the_whole_timeline_and_the_flagged_segment(spliced):
    result = runner.invoke(app, ["detect", str(spliced)])
    assert result.exit_code == 1, result.output  # synthetic (classifier)
    rows = [line for line in result.output.splitlines() if re.match(r"^\s+\d+ s  \d", line)]
    assert sum(len(re.findall(r"\d\.\d\d", line)) for line in rows) == 10  # one probability per second, all 10
    assert "segment 3-7 s" in result.output and "carried mostly by" in result.output
    assert "classifier trained on:" in result.output


def test_detect_unreadable_file_is_cannot_analyse(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"garbage")
    result = runner.invoke(app, ["detect", str(bad), "--json"])
    assert result.exit_code == 4
    assert json.loads(result.stdout)["verdict"] == "cannot_analyse"


def test_detect_missing_file_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["detect", str(tmp_path / "absent.mp4")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_detector_help_lists_the_subcommands():
    result = runner.invoke(app, ["detector", "--help"])
    assert result.exit_code == 0
    for name in ("dataset", "train", "eval"):
        assert name in result.output


def test_external_folder_layout_is_featurised(real_clip, stripped, tmp_path):
    from candor.training.detector_dataset import import_external

    src = tmp_path / "ext"
    for label, clip in (("real", real_clip), ("fake", stripped)):
        (src / label).mkdir(parents=True)
        for i in range(3):
            shutil.copy(clip, src / label / f"{label}{i}.mp4")
    counts = import_external(src, tmp_path / "ds")
    assert sum(counts.values()) == 6
    written = sorted((tmp_path / "ds").rglob("*.npz")) + sorted((tmp_path / "ds" / "test").rglob("*.mp4"))
    assert len(written) == 6
