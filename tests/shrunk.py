"""Overrides that shrink any recipe to a run of seconds.

One layer of width 16, a 60-piece vocabulary, 200 training pairs of the
built-in corpus, 3 updates, beam 2 over 8 test sentences: what a recipe's
smoke test, the documentation's commands and CI's packaging check train.
Plain data, so that a script outside the test suite can use it too.
"""

TINY = [
    "model.preset=none",
    "model.num_layers=1",
    "model.num_heads=2",
    "model.hidden_dim=16",
    "model.intermediate_dim=32",
    "data.vocabulary_size=60",
    "data.joint_vocabulary=true",
    "data.builtin_train_size=200",
    "data.builtin_valid_size=8",
    "data.builtin_test_size=8",
    "data.token_budget=512",
    "data.max_length=48",
    "train.epochs=1",
    "train.max_steps=3",
    "train.warmup_steps=10",
    "train.mixed_precision=float32",
    "train.gradient_accumulation_steps=none",
    "train.average_last=0",
    "train.eval_max_sentences=4",
    "decode.num_beams=2",
    "decode.max_length_offset=4",
]


def set_arguments():
    """TINY as command-line arguments: `--set KEY=VALUE` for each."""
    return [argument for override in TINY for argument in ("--set", override)]
