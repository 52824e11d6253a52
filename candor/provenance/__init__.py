"""Provenance: every Candor video says, in two independent ways, that it is AI-generated and by whom.

- ``keys``: the offline root CA and the ES256 claim-signing certificate (``candor keys init``).
- ``signer``: the :class:`~candor.provenance.signer.ClaimSigner` seam (local key or KMS/HSM callback).
- ``manifest``: the C2PA manifest (created action, ingredients, soft binding, Candor assertion) signed
  into the MP4 from streams: :func:`~candor.provenance.manifest.sign_video`.
- ``watermark/``: the keyed invisible watermark that survives re-encoding (the soft binding).
- ``repository``: every signed manifest, indexed by its soft-binding value (durable credentials).
- ``verify``: :func:`~candor.provenance.verify.verify_file`, the verdict behind ``candor verify``.
- ``ledger``: the tamper-evident generation log.

Nothing heavy is imported here: import the submodule you need.
"""
