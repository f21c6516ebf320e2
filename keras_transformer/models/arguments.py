"""Keyword arguments checked by name, as Keras layers check theirs."""

import difflib
import inspect


def check_keyword_arguments(cls, kwargs, passed_on):
    """Raises `TypeError` for a keyword of `kwargs` that `cls.__init__` does
    not take and that is not one of `passed_on` (what it forwards to its base
    class), naming the closest valid one. A functional `keras.Model` would
    otherwise swallow a misspelled argument (`num_head=4`) and build the
    default architecture."""
    unknown = sorted(set(kwargs) - set(passed_on))
    if not unknown:
        return
    signature = inspect.signature(cls.__init__).parameters
    valid = [name for name in signature if name not in ("self", "kwargs")]
    valid += passed_on
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(
        f"{cls.__name__} got unknown keyword argument(s) {', '.join(named)}. "
        f"Valid arguments: {', '.join(valid)}."
    )
