"""What a demo of the book needs to know beyond the model file: the fields of an exported record
(``course_lib.export.browser``) that describe a data set's layout, and measurements as shown."""

from __future__ import annotations

from typing import Any

from course_lib.data.face_conditions import GROUPS, MASK
from course_lib.data.face_domains import DomainFaces
from course_lib.data.faces import ATTRIBUTES
from course_lib.evaluation.intervals import Interval
from course_lib.evaluation.translation_checks import IDENTITY_SCORE_LABELS


def attribute_edit_fields(faces: DomainFaces, examples: int) -> dict[str, Any]:
    """For StarGAN's demo: the condition vector's layout (which entries hold which attribute and
    its values, and the mask's entries) and the labels of the first ``examples`` faces, which the
    demo shows as its starting faces."""
    return {
        "input_range": [-1.0, 1.0],
        "condition_layout": {
            group.attribute: {
                "dataset": group.dataset,
                "columns": [group.columns.start, group.columns.stop],
                "values": list(ATTRIBUTES[group.attribute]),
            }
            for group in GROUPS
        },
        "mask_columns": [MASK.start, MASK.stop],
        "example_attributes": [
            {group.attribute: faces.attributes[group.attribute][i].item() for group in GROUPS}
            for i in range(examples)
        ],
    }


def identity_measured(summary: dict[str, Interval]) -> dict[str, str]:
    """A StarGAN generator's identity scores (``translation_checks.identity_summary``) as the
    demo shows them: each score's name and its mean with the 95 % interval over the faces."""
    return {
        f"{label}, held-out faces": summary[name].format(".3f" if name.startswith("l1") else ".1f")
        for name, label in IDENTITY_SCORE_LABELS.items()
    }
