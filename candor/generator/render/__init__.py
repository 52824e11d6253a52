"""The decoder: a z-buffered piecewise-affine mesh warp of the portrait plus eye and mouth layers."""

from candor.generator.render.renderer import FaceRenderer

__all__ = ["FaceRenderer"]
