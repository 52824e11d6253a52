"""The audio-driven motion model: a diffusion transformer over the motion latent (VASA-1's core).

config.py  MotionDiTConfig, the one place the model's sizes live
model.py   MotionDiT, the denoiser (predicts the clean motion window x0)
scheduler.py  DDIMScheduler, the few-step sampler (diffusers-style interface)
train.py   ``candor train motion``: corpus windows -> checkpoint
"""
