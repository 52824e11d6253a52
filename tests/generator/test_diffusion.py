import subprocess

import numpy as np
import pytest
import torch

from candor.generator.audio import FEATURE_DIM, N_MELS, audio_features, load_audio
from candor.generator.controls import CONTROL_DIM
from candor.generator.diffusion.config import MotionDiTConfig
from candor.generator.diffusion.model import MotionDiT
from candor.generator.diffusion.scheduler import DDIMScheduler
from candor.generator.motion import DIM

TINY = MotionDiTConfig(d_model=64, n_layers=2, n_heads=4, window=24, prev_frames=6)


def _inputs(B: int, L: int, K: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, L, DIM, generator=g),
        torch.randint(0, 1000, (B,), generator=g),
        torch.randn(B, L, FEATURE_DIM, generator=g),
        torch.randn(B, K, DIM, generator=g),
        torch.randn(B, K, FEATURE_DIM, generator=g),
        torch.randn(B, CONTROL_DIM, generator=g),
    )


def _perturbed(model: MotionDiT) -> MotionDiT:
    # adaLN-Zero starts as the zero function; give every weight a value so conditions matter.
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_model_predicts_a_window_of_any_length_up_to_w():
    model = _perturbed(MotionDiT(TINY))
    for L, K in ((24, 6), (8, 6), (5, 3), (1, 0)):
        out = model(*_inputs(2, L, K))
        assert out.shape == (2, L, DIM)
        assert torch.isfinite(out).all()


def test_each_condition_and_its_dropout_changes_the_prediction():
    model = _perturbed(MotionDiT(TINY))
    x, t, a, pm, pa, c = _inputs(2, 12, 6)
    base = model(x, t, a, pm, pa, c)
    off = torch.zeros(2, dtype=torch.bool)
    assert not torch.allclose(base, model(x, t, a + 1, pm, pa, c))
    assert not torch.allclose(base, model(x, t, a, pm, pa, c + 1))
    assert not torch.allclose(base, model(x, t, a, pm + 1, pa, c))
    # Dropped conditions are ignored entirely: changing them changes nothing.
    assert torch.allclose(model(x, t, a, pm, pa, c, keep_audio=off), model(x, t, a + 5, pm, pa + 5, c, keep_audio=off))
    assert torch.allclose(model(x, t, a, pm, pa, c, keep_control=off), model(x, t, a, pm, pa, c + 5, keep_control=off))
    assert torch.allclose(model(x, t, a, pm, pa, c, keep_prev=off), model(x, t, a, pm + 5, pa, c, keep_prev=off))
    # A per-frame mask drops only the frames it marks.
    mask = torch.tensor([[False] * 3 + [True] * 3] * 2)
    moved = pm.clone()
    moved[:, :3] += 5
    assert torch.allclose(model(x, t, a, pm, pa, c, keep_prev=mask), model(x, t, a, moved, pa, c, keep_prev=mask))


def test_timesteps_run_from_noisy_to_clean():
    s = DDIMScheduler(1000)
    s.set_timesteps(8)
    assert s.timesteps.tolist()[0] == 999 and s.timesteps.tolist()[-1] == 0
    assert (s.timesteps.diff() < 0).all()
    a = s.alphas_cumprod
    assert a[0] > 0.99 and a[-1] < 1e-3 and (a.diff() < 0).all()
    with pytest.raises(ValueError):
        s.set_timesteps(0)


def test_step_with_the_true_x0_follows_the_forward_process():
    # With a perfect x0 prediction, DDIM (eta=0) maps add_noise(x0, eps, t) to add_noise(x0, eps, t_prev).
    s = DDIMScheduler(1000)
    s.set_timesteps(10)
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(1, 20, DIM, generator=g), torch.randn(1, 20, DIM, generator=g)
    x = s.add_noise(x0, eps, torch.tensor([int(s.timesteps[0])]))
    for t in s.timesteps:
        t_prev = s.previous_timestep(int(t))
        x = s.step(x0, int(t), x)
        expected = x0 if t_prev < 0 else s.add_noise(x0, eps, torch.tensor([t_prev]))
        torch.testing.assert_close(x, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(x, x0)


def test_add_noise_keeps_unit_variance_and_is_clean_at_t0():
    s = DDIMScheduler(1000)
    x0 = torch.randn(4000, 8)
    noise = torch.randn(4000, 8)
    for t in (0, 300, 700, 999):
        xt = s.add_noise(x0, noise, torch.full((4000,), t))
        assert abs(xt.std().item() - 1.0) < 0.05
    torch.testing.assert_close(s.add_noise(x0, noise, torch.zeros(4000, dtype=torch.long)), x0, atol=0.05, rtol=0)


@pytest.fixture(scope="module")
def speech_windows(tmp_path_factory):
    """Real speech features with a jaw curve that follows loudness: a learnable audio->motion map."""
    path = tmp_path_factory.mktemp("diff") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Open the window, then close the door quietly."], check=True)
    feats = audio_features(load_audio(path, max_seconds=None))
    jaw = np.clip((feats[:, N_MELS] + 1.5) / 1.5, 0, 1)
    motion = np.zeros((len(feats), DIM), np.float32)
    motion[:, 6] = 2 * jaw - 1  # jawOpen column, normalized to roughly unit scale
    W = TINY.window
    starts = range(TINY.prev_frames, len(feats) - W, 6)
    return (
        torch.from_numpy(np.stack([motion[s : s + W] for s in starts])),
        torch.from_numpy(np.stack([feats[s : s + W] for s in starts])),
    )


def test_tiny_model_overfits_real_speech_windows(speech_windows):
    x0, audio = speech_windows
    B, K = len(x0), TINY.prev_frames
    torch.manual_seed(0)
    model = MotionDiT(TINY)
    sched = DDIMScheduler(1000)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    pm, pa, c = torch.zeros(B, K, DIM), torch.zeros(B, K, FEATURE_DIM), torch.zeros(B, CONTROL_DIM)
    off = torch.zeros(B, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(150):
        t = torch.randint(0, 1000, (B,), generator=g)
        xt = sched.add_noise(x0, torch.randn(x0.shape, generator=g), t)
        loss = torch.nn.functional.mse_loss(model(xt, t, audio, pm, pa, c, keep_prev=off), x0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:10])
    # Sampling from pure noise now recovers the jaw curve from the audio alone.
    model.eval()
    sched.set_timesteps(8)
    x = torch.randn(x0.shape, generator=g)
    with torch.inference_mode():
        for t in sched.timesteps:
            tt = torch.full((B,), int(t))
            x = sched.step(model(x, tt, audio, pm, pa, c, keep_prev=off), int(t), x)
    corr = np.corrcoef(x[..., 6].flatten().numpy(), x0[..., 6].flatten().numpy())[0, 1]
    assert corr > 0.8
