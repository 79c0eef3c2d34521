"""What every exercise check shares: calling the answer, comparing it, saying what is wrong.

A check cell of a notebook calls one ``check_*`` function of this package with the student's
function. The check either prints ``Correct: ...`` or raises one of two errors whose message says,
in words, what to change:

- ``ExerciseIncomplete``: the answer place is still empty (the function raises
  ``NotImplementedError``, the stub that the student edition puts there);
- ``WrongAnswer``: the function runs but gives a wrong shape, a wrong value at a known input (with
  the expected value), a wrong gradient, fails on an edge case, or calls the library function the
  exercise asks the student to write.

Both are ``AssertionError``s, so nbgrader, which grades a check cell by whether it raises, gives
no points for either. The references the checks compare with are independent of the answer:
closed forms, enumeration, float64 arithmetic, ``torch.distributions``, scipy or scikit-learn.
"""

from __future__ import annotations

import contextlib
import functools
import io
import numbers
import types
from typing import Any, Callable, Iterable

import torch


class ExerciseIncomplete(AssertionError):
    """The answer place is still empty."""


class WrongAnswer(AssertionError):
    """The answer runs but is wrong; the message says how."""


def call_answer(exercise: str, answer: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``answer(*args, **kwargs)``, with an empty answer or a crash turned into a message.

    The answer gets copies of the tensors, so an answer that changes its input in place cannot
    change what the check compares it with.
    """
    name = getattr(answer, "__name__", "your function")
    args = tuple(_copy(value) for value in args)
    kwargs = {key: _copy(value) for key, value in kwargs.items()}
    try:
        return answer(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseIncomplete(
            f"{exercise} is not answered yet: `{name}` (or a function it calls) still raises "
            "NotImplementedError. Replace `raise NotImplementedError()` in the cell above with "
            "your code, run that cell, then this one."
        ) from None
    except (ExerciseIncomplete, WrongAnswer):
        raise
    except Exception as error:  # the student's code failed: say where, not a bare traceback
        shapes = ", ".join(_describe(value) for value in (*args, *kwargs.values()))
        raise WrongAnswer(
            f"{exercise}: `{name}({shapes})` raised {type(error).__name__}: {error}"
        ) from None


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, torch.nn.Module):
        return type(value).__name__
    return repr(value) if isinstance(value, (int, float, str, tuple)) else type(value).__name__


def forbid(exercise: str, answer: Callable[..., Any], names: Iterable[str], instead: str) -> None:
    """Refuse an answer whose code names one of ``names`` (the library's own implementation).

    Reads the names the function's code (and any function defined inside it) looks up, such as
    ``binary_cross_entropy`` in ``F.binary_cross_entropy(...)``. A name that is one of the
    student's own functions (defined in the notebook, like the answer) is not refused.
    """
    used = _names_used(answer.__code__)
    own = {  # functions the student defined next to the answer, whatever their names
        name
        for name in used
        if isinstance(answer.__globals__.get(name), types.FunctionType)
        and answer.__globals__[name].__module__ == answer.__module__
    }
    shortcuts = sorted((used - own) & set(names))
    if shortcuts:
        raise WrongAnswer(
            f"{exercise}: your answer calls `{shortcuts[0]}`, the library's own version of what "
            f"the exercise asks you to write. {instead}"
        )


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_used(constant)
    return names


def expect_tensor(
    exercise: str,
    got: Any,
    expected: torch.Tensor,
    *,
    what: str,
    tolerance: float = 1e-5,
) -> None:
    """``got`` must be a tensor of ``expected``'s shape, equal to it within ``tolerance``.

    The tolerance is relative to the size of the expected values (and absolute below 1). The
    message names the first entry that differs, with both values.
    """
    if not isinstance(got, torch.Tensor):
        raise WrongAnswer(f"{exercise}: {what} should be a tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(expected.shape):
        raise WrongAnswer(
            f"{exercise}: {what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}."
        )
    got64, expected64 = got.detach().double().cpu(), expected.detach().double().cpu()
    if not torch.isfinite(got64).all():
        raise WrongAnswer(
            f"{exercise}: {what} contains {_first_non_finite(got64)} where "
            f"{expected64.flatten()[0].item():.6g}-like finite values are expected."
        )
    error = (got64 - expected64).abs()
    allowed = tolerance * expected64.abs().clamp(min=1.0)
    if (error > allowed).any():
        index = int((error - allowed).flatten().argmax())
        position = _position(index, tuple(expected.shape))
        raise WrongAnswer(
            f"{exercise}: {what} is wrong{position}: expected "
            f"{expected64.flatten()[index].item():.6g}, got {got64.flatten()[index].item():.6g}."
        )


def expect_scalar(
    exercise: str,
    got: Any,
    *,
    what: str,
    reduction: str = ".mean() (or .sum(), as the exercise says)",
) -> torch.Tensor:
    """``got`` must be one number (a 0-dim tensor, or a Python number); returned as a tensor.

    A loss that is not reduced to one number is the usual mistake; the message says which shape
    came back and how to reduce it.
    """
    if isinstance(got, numbers.Real):  # a Python or NumPy number
        return torch.tensor(float(got))
    if not isinstance(got, torch.Tensor):
        raise WrongAnswer(f"{exercise}: {what} should be a number, got {type(got).__name__}.")
    if got.dim() != 0:
        raise WrongAnswer(
            f"{exercise}: {what} should be a single number (a 0-dim tensor), got a tensor of "
            f"shape {tuple(got.shape)}; reduce it with {reduction}."
        )
    return got


def _first_non_finite(values: torch.Tensor) -> str:
    bad = values[~torch.isfinite(values)]
    return "nan" if bad.isnan().any() else "inf"


def _position(index: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    place = []
    for size in reversed(shape):
        place.append(index % size)
        index //= size
    return f" at index {tuple(reversed(place))}"


def correct(exercise: str, what: str) -> None:
    """Say that every check of ``exercise`` passed, and what they checked."""
    print(f"Correct: {exercise}. {what}")


def exercise_check(check: Callable[..., None]) -> Callable[..., None]:
    """Give a check a ``quiet`` keyword that hides its ``Correct:`` line.

    The hidden checks of a check cell run before the public one and pass ``quiet=True``, so the
    cell prints one line when everything passes.
    """

    @functools.wraps(check)
    def run(*args: Any, quiet: bool = False, **kwargs: Any) -> None:
        if not quiet:
            return check(*args, **kwargs)
        with contextlib.redirect_stdout(io.StringIO()):
            return check(*args, **kwargs)

    return run
