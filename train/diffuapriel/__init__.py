"""PyTorch reference and training code for DiffuApriel (see /work/shared/design/MODEL.md).

This package is independent of the Go engine: it is the reference the engine is
tested against (golden fixtures) and the trainer of the shipped demo checkpoints.
"""
