"""Measuring models: image quality, likelihood bounds, AIS and exact enumeration for RBMs,
sample quality of GANs, trained judges, and the per-epoch monitors the training loops call."""
