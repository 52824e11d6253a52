"""The generator: portrait + motion (or audio) -> 512x512 frames. Imports no other Candor area."""
