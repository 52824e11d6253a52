"""Candor: responsible-release talking-face generation."""

__version__ = "0.1.0"
