"""course_lib: the tested code behind the deep generative models course notebooks."""

from course_lib.compat import ensure_torchvision_importable

# Must run before anything imports torchvision (see course_lib/compat.py).
TORCHVISION_PATH = ensure_torchvision_importable()

from course_lib.config import (  # noqa: E402
    PROFILES,
    active_profile,
    data_dir,
    pick_device,
    seed_everything,
    settings_for,
)

__all__ = [
    "PROFILES",
    "TORCHVISION_PATH",
    "active_profile",
    "data_dir",
    "pick_device",
    "seed_everything",
    "settings_for",
]
