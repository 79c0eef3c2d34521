"""The networks of the course, one family per file: ``nn.Module`` classes and their building blocks.

Models import nothing from training, losses or evaluation. Import from the module that defines a
name (``from course_lib.models.vae import MLPVAE``); this package file imports nothing.
"""
