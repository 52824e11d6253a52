"""The companion detector: is the face in a video synthetic, and if Candor made it, which generation?

``verdict.detect_video`` combines three kinds of evidence, strongest first: C2PA credentials, the
Candor watermark (with the generation record it points to), and a small trained classifier on
aligned face crops and temporal cues (``features``, ``model``, ``train``, ``dataset``).
"""
