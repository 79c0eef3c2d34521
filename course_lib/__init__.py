"""course_lib: the tested code behind the deep generative models course notebooks.

The packages, one concept each (the README has the full table): ``runtime``, ``data``, ``models``,
``losses``, ``objectives``, ``training``, ``evaluation``, ``baselines``, ``viz``, and ``authoring``
for the course's own tools. ``python -m course_lib.recipes`` trains any notebook's model.
"""

from course_lib.runtime.compat import ensure_torchvision_importable

# Must run before anything imports torchvision (see course_lib/runtime/compat.py).
TORCHVISION_PATH = ensure_torchvision_importable()
