import json

import pytest
from provenance_media import PASSPHRASE
from typer.testing import CliRunner

from candor.cli import app
from candor.config import get_settings


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CANDOR_ENVIRONMENT", "test")
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_KEY_PASSPHRASE", PASSPHRASE)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_keys_init_show_rotate(cli_env):
    first = _run("keys", "init")
    assert first.exit_code == 0, first.output
    again = _run("keys", "init")
    assert again.exit_code == 2 and "already exist" in again.output
    assert _run("keys", "rotate").exit_code == 0
    shown = _run("keys", "show", "--json")
    info = json.loads(shown.stdout)
    assert len(info["signing"]) == 2 and len(info["roots"]) == 1
    assert info["current"]["signing"] == info["signing"][-1]["id"]
    assert PASSPHRASE not in shown.stdout


def test_keys_without_a_passphrase_outside_development_is_a_clear_error(cli_env, monkeypatch):
    monkeypatch.delenv("CANDOR_KEY_PASSPHRASE")
    get_settings.cache_clear()
    result = _run("keys", "init")
    assert result.exit_code == 2
    assert "CANDOR_KEY_PASSPHRASE" in result.output


def test_sign_then_verify_exit_codes(cli_env, talking_mp4, speech_wav, portrait_png):
    portrait = cli_env / "portrait.png"
    portrait.write_bytes(portrait_png)
    out = cli_env / "out" / "signed.mp4"
    assert _run("keys", "init").exit_code == 0
    signed = _run("sign", str(talking_mp4), "--portrait", str(portrait), "--audio", str(speech_wav), "-o", str(out))
    assert signed.exit_code == 0, signed.output
    assert out.is_file()

    verified = _run("verify", str(out), "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["state"] == "Trusted" and report["outcome"] == "proven"
    assert report["summary"]["ai_generated"] is True
    assert report["summary"]["generation"]["partner"].startswith("pp_")

    tampered = bytearray(out.read_bytes())
    tampered[tampered.find(b"mdat") + 4000] ^= 0xFF
    bad = cli_env / "tampered.mp4"
    bad.write_bytes(bytes(tampered))
    result = _run("verify", str(bad), "--no-watermark")
    assert result.exit_code == 3
    assert "bmffHash.mismatch" in result.output

    assert _run("verify", str(talking_mp4)).exit_code == 1  # no credentials, no watermark
    assert _run("verify", str(cli_env / "missing.mp4")).exit_code == 2


def test_sign_refuses_a_missing_video(cli_env, speech_wav):
    result = _run("sign", str(cli_env / "none.mp4"), "--portrait", str(speech_wav), "--audio", str(speech_wav))
    assert result.exit_code == 2
    assert "no such video" in result.output
