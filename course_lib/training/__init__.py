"""The training loops, written to be read: ``fit`` (minibatch gradient descent on a loss), the
adversarial loop of Algorithm 5.2 (``train_gan``) and the translation loops built on the same steps,
CD-k for RBMs, greedy layer-wise DBN training, and the image optimiser of style transfer.

``steps`` holds the small pieces every loop shares (seeding, updates, frozen parameters, NaN guard,
progress bars, measurements), so a loop shows its algorithm and calls the plumbing by name.
"""
