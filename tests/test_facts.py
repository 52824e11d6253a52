"""Each fact has one home: what the front doors, the policy and the settings publish about the
controls, the frame rate and the sample rate is what candor.generator.controls says."""

from __future__ import annotations

from typer.main import get_command

from candor.api.schemas.generations import ControlsPublic, GenerationCreate
from candor.config import Settings
from candor.generator import controls as C
from candor.policy import load_policy


def test_request_schema_publishes_the_controls_bounds_and_defaults() -> None:
    props = GenerationCreate.model_json_schema()["properties"]
    defaults = C.Controls()
    for name, bound in C.BOUNDS.items():
        assert (props[name]["minimum"], props[name]["maximum"]) == (bound.low, bound.high), name
        assert props[name]["default"] == getattr(defaults, name)
        assert props[name]["description"] == bound.description
    assert tuple(props["emotion"]["enum"]) == C.EMOTIONS and props["emotion"]["default"] == defaults.emotion
    fps = props["fps"]
    assert (fps["minimum"], fps["maximum"], fps["default"]) == (C.FPS.low, C.FPS.high, C.DEFAULT_FPS)


def test_request_and_response_carry_exactly_the_control_names() -> None:
    assert tuple(ControlsPublic.model_fields) == C.CONTROL_NAMES
    assert set(C.CONTROL_NAMES) <= set(GenerationCreate.model_fields)
    form = GenerationCreate(consent_id="cns_" + "a" * 16, portrait_id="prt_" + "a" * 16, gaze_yaw=4.0)
    request = form.to_request(audio_asset_id="ast_" + "a" * 16, idempotency_key=None)
    assert request.controls == C.Controls(gaze_yaw=4.0).as_dict()


def test_cli_options_use_the_default_fps_and_show_the_ranges() -> None:
    from candor.cli import app

    command = get_command(app)
    generate = {p.name: p for p in command.commands["generate"].params}
    assert generate["fps"].default == C.DEFAULT_FPS
    assert str(C.FPS) in generate["fps"].help and str(C.DISTANCE) in generate["distance"].help
    assert {p.name: p for p in command.commands["demo"].params}["fps"].default == C.DEFAULT_FPS


def test_settings_hold_no_frame_rate_and_the_packaged_policy_only_narrows_the_range() -> None:
    assert "fps" not in Settings.model_fields
    policy = load_policy()
    for limit in (policy.min_fps, policy.max_fps):
        assert limit is None or limit in C.FPS


def test_no_module_spells_the_range_or_rate_again() -> None:
    # The shapes the old copies had (`15 <= fps <= 60`, `Field(25, ge=15, le=60)`, a clamp,
    # `SAMPLE_RATE = 16000`, the emotion tuple): any of them outside controls.py is a second home.
    import re
    from pathlib import Path

    import candor

    pattern = re.compile(
        r"\b15\s*<=\s*fps|fps\s*<=\s*60\b|\bge=15\b|\ble=60\b|max\(15,|min\(60,"
        r"|SAMPLE_RATE\s*=\s*16_?000|\(\"neutral\", \"happy\""
    )
    root = Path(candor.__file__).parent
    home = root / "generator" / "controls.py"
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        if path != home
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
