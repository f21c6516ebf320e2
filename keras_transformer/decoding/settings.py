"""The settings of a search, and of a translator around it: one definition.

`SearchSettings` is what a search needs: beam width, length penalty and
output limits (Vaswani et al. 2017, §6.1: beam 4, α 0.6, outputs up to the
input length + 50). `TranslationSettings` adds what a `Translator` does
around the search. `Generator` takes the first, `Translator` the second,
the run configuration's `decode` section is the second
(`keras_transformer.config.DecodeConfig`), and `translator.json` stores it,
so an option added here reaches the constructors, `--set decode.NAME`, the
CLI's `--help` and saved translators at once.
"""

import dataclasses
import difflib
from typing import Literal

from keras_transformer.typed_fields import (
    Mismatch,
    bound_problems,
    convert,
    mismatch_message,
    setting,
)


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """Beam or greedy search (§6.1)."""

    num_beams: int = setting(4, "beam width; 1: greedy search (§6.1: 4)", minimum=1)
    length_penalty: float = setting(
        0.6, "GNMT length penalty α (§6.1: 0.6); 0: none", minimum=0
    )
    length_normalization: Literal["gnmt", "power"] = setting(
        "gnmt",
        "beam scores: log prob / ((5 + |Y|) / 6)^α (gnmt, §6.1) or / |Y|^α "
        "(power: CTranslate2's), |Y| counting the end token",
    )
    early_stopping: bool = setting(
        False,
        "a sentence's beam search ends once num_beams hypotheses have finished "
        "(fairseq's and CTranslate2's rule); false: once no live one can beat them",
    )
    max_length_ratio: float = setting(
        1.0,
        "outputs end by ratio x source tokens + offset (§6.1: input + 50)",
        minimum=0,
    )
    max_length_offset: int = setting(
        50, "added to ratio x source tokens (§6.1: 50)", minimum=0
    )
    max_output_length: int = setting(256, "hard cap on output tokens", minimum=1)

    def problems(self, prefix=""):
        """What is wrong with these settings, one message each (none: sound);
        `prefix` goes before each field's name (`"decode."` in a config)."""
        problems = []
        for field in dataclasses.fields(self):
            key, value = f"{prefix}{field.name}", getattr(self, field.name)
            try:
                convert(value, field.type)
            except Mismatch:
                problems.append(mismatch_message(key, field.type, value))
                continue
            problems += bound_problems(key, value, field.metadata)
        if not problems and self.max_length_ratio == 0 and self.max_length_offset == 0:
            problems.append(
                f"{prefix}max_length_ratio and {prefix}max_length_offset are both "
                "0: every output would be empty"
            )
        return problems

    @classmethod
    def build(cls, settings=None, **overrides):
        """`settings` (default: the defaults) with `overrides` applied, checked.

        `settings` may hold more fields than `cls` (a `TranslationSettings`
        given where `SearchSettings` are wanted): only `cls`'s are kept.

        Raises:
            TypeError: an override that is not a field, naming the fields.
            ValueError: a value of the wrong type or out of its bounds.
        """
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(
                f"Unknown {cls.__name__} {unknown}; valid: {', '.join(names)}."
            )
        values = {}
        if settings is not None:
            values = {name: getattr(settings, name) for name in names}
        built = cls(**{**values, **overrides})
        problems = built.problems()
        if problems:
            raise ValueError(f"Invalid {cls.__name__}: " + "; ".join(problems) + ".")
        return built

    @classmethod
    def from_dict(cls, data, where):
        """Settings from JSON (a saved translator's `translator.json`),
        checked with the converter and messages of `--set`; `where` names
        the file and section in every message.

        Raises:
            ValueError: not an object, an unknown key (with the closest
                one), a value of the wrong type, or out of its bounds.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object of settings, found {data!r}.")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in fields:
                close = difflib.get_close_matches(str(key), fields, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"Unknown setting {key!r} in {where}.{hint} Valid settings: "
                    f"{', '.join(fields)}."
                )
            try:
                values[key] = convert(value, fields[key].type)
            except Mismatch:
                message = mismatch_message(key, fields[key].type, value)
                raise ValueError(f"{message} in {where}.") from None
        settings = cls(**values)
        problems = settings.problems()
        if problems:
            raise ValueError(f"Invalid settings in {where}: {'; '.join(problems)}.")
        return settings


@dataclasses.dataclass(frozen=True)
class TranslationSettings(SearchSettings):
    """The search's settings, and how a `Translator` feeds it."""

    max_source_length: int = setting(
        256, "longer sources are truncated, with a warning", minimum=1
    )
    batch_size: int = setting(64, "sentences per beam search", minimum=1)


def field_names(settings_class):
    """The names of a settings class's fields, in order."""
    return [field.name for field in dataclasses.fields(settings_class)]
