"""Losses as pure functions on tensors: nothing here imports a data set, a judge or a loop.

``vae`` (reconstruction and KL terms), ``adversarial`` (GAN, least-squares and critic losses, the
gradient penalty), ``translation`` (cycle, identity, reconstruction, domain classification),
``style`` (Gram matrices, content and style losses).
"""
