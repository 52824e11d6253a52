"""CLI command groups, one module per area. Each exposes ``register(app, keys_app)``.

Modules here import only typer/rich and the stdlib at top level, so that ``candor --help``
answers quickly; heavy imports (mediapipe, torch, c2pa) happen inside the command bodies.
"""
