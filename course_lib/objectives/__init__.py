"""What each adversarial family minimises: the players, their losses and the order of play.

An objective is an ``nn.Module`` holding its networks; the loops in ``course_lib.training`` call its
``discriminator_loss`` and generator loss methods. The loss terms themselves live in
``course_lib.losses``.
"""
