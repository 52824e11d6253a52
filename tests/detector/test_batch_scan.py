"""`candor detect-batch` and candor.services.batch: a folder with a Candor output, a filmed clip and a
garbage file gives three rows with the right verdicts, serially, on a real local Ray and on the CLI.

(Here beside the detector's fixtures: the released output, its container and the filmed clip.)
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from candor.cli import app
from candor.executors import RayExecutor, SerialExecutor
from candor.services.batch import ScanRecipe, list_videos, scan_videos

EXPECTED = {"candor.mp4": "candor_proven", "filmed.mp4": "no_evidence", "broken.mp4": "cannot_analyse"}


@pytest.fixture(scope="module")
def folder(released, real_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    shutil.copy(released.output_path, root / "candor.mp4")
    (root / "nested").mkdir()
    shutil.copy(real_clip, root / "nested" / "filmed.mp4")
    (root / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (root / "notes.txt").write_text("not scanned: no video suffix")
    return root


def _by_name(rows):
    return {row["path"].rsplit("/", 1)[-1]: row for row in rows}


@pytest.fixture(scope="module")
def serial_rows(folder, container):
    recipe = ScanRecipe.from_container(container)
    summary = scan_videos(list_videos(str(folder)), recipe=recipe, executor=SerialExecutor(), keep_rows=True)
    assert summary.videos == 3 and summary.by_verdict == {"candor_proven": 1, "cannot_analyse": 1, "no_evidence": 1}
    assert summary.errors == 1 and summary.videos_per_minute > 0
    return _by_name(summary.rows)


def test_serial_scan_gives_one_row_per_video_with_the_right_verdict(serial_rows):
    assert {name: row["verdict"] for name, row in serial_rows.items()} == EXPECTED
    assert serial_rows["candor.mp4"]["generation_id"] == "gen_detectortest"
    assert serial_rows["broken.mp4"]["error"] and serial_rows["filmed.mp4"]["error"] is None
    assert serial_rows["filmed.mp4"]["probability"] is not None
    assert all(row["seconds"] > 0 for row in serial_rows.values())


def test_ray_scan_gives_the_serial_rows(folder, container, serial_rows, tmp_path):
    recipe = ScanRecipe.from_container(container)
    out = tmp_path / "rows.jsonl"
    with RayExecutor("local", num_cpus=2) as ray:
        assert ray.workers == 2
        # the executor itself: a raising item is a row with the original error, not a lost task
        done = {d.item: (d.value, d.error) for d in ray.map_unordered(math.sqrt, [4.0, -1.0])}
        assert done == {4.0: (2.0, None), -1.0: (None, "ValueError: math domain error")}
        summary = scan_videos(list_videos(str(folder)), recipe=recipe, executor=ray, jsonl=out)
    assert summary.executor == "Ray (2 CPUs)" and summary.videos == 3
    rows = _by_name(json.loads(line) for line in out.read_text().splitlines())
    drop = {"seconds", "probability"}  # wall time differs; the classifier's score to float noise at most
    for name, row in rows.items():
        assert {k: v for k, v in row.items() if k not in drop} == {
            k: v for k, v in serial_rows[name].items() if k not in drop
        }
        if row["probability"] is not None:
            assert row["probability"] == pytest.approx(serial_rows[name]["probability"], abs=1e-3)


def test_cli_writes_jsonl_and_a_summary(folder, tmp_path):
    # The CLI's own container (the suite's data directory) has never seen the release: its watermark and
    # credentials are from another service, so it is not "proven" here; the other two rows are the same.
    sub = tmp_path / "in"
    sub.mkdir()
    shutil.copy(folder / "nested" / "filmed.mp4", sub / "filmed.mp4")
    shutil.copy(folder / "broken.mp4", sub / "broken.mp4")
    out = tmp_path / "scan.jsonl"
    result = CliRunner().invoke(app, ["detect-batch", str(sub), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    rows = _by_name(json.loads(line) for line in out.read_text().splitlines())
    assert {name: row["verdict"] for name, row in rows.items()} == {
        "filmed.mp4": "no_evidence",
        "broken.mp4": "cannot_analyse",
    }
    assert "2 videos: cannot_analyse 1, no_evidence 1; 1 could not be analysed" in result.output
    assert "videos/minute" in result.output


def test_cli_refuses_a_folder_without_videos(tmp_path):
    result = CliRunner().invoke(app, ["detect-batch", str(tmp_path)])
    assert result.exit_code == 2 and "no videos" in result.output
    result = CliRunner().invoke(app, ["detect-batch", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "not a folder" in result.output


def test_a_bucket_prefix_scans_like_the_folder(folder, container, serial_rows, s3_server):
    client = s3_server.client()
    client.create_bucket(Bucket="uploads")
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "uploads", f"incoming/{path.relative_to(folder)}")
    client.put_object(Bucket="uploads", Key="elsewhere/other.mp4", Body=b"outside the prefix")
    source = f"s3://uploads/incoming/?endpoint={s3_server.endpoint}"
    recipe = ScanRecipe.from_container(container, source=source)
    videos = list_videos(source.split("?", 1)[0], endpoint=s3_server.endpoint)
    assert sorted(v.location for v in videos) == [
        "s3://uploads/incoming/broken.mp4",
        "s3://uploads/incoming/candor.mp4",
        "s3://uploads/incoming/nested/filmed.mp4",
    ]
    summary = scan_videos(videos, recipe=recipe, executor=SerialExecutor(), keep_rows=True)
    rows = _by_name(summary.rows)
    assert {name: row["verdict"] for name, row in rows.items()} == EXPECTED
    assert rows["candor.mp4"]["generation_id"] == "gen_detectortest"
