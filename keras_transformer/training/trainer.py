"""`train(config, workdir)`: a whole training run, from corpus to translator.

The work directory holds everything a run writes, so the same command run
again resumes it (from `backup/`):

    config.json          the configuration of the run
    tokenizer/           source.model (and target.model when separate)
    backup/              resumable state (TrainingBackup)
    checkpoints/         the last epochs' weights and the best one
    logs/                TensorBoard
    history.csv          one row per epoch: loss, accuracy, BLEU, rate...
    translator/          the trained translator (Translator.load)
    results.json         test scores (sacreBLEU signatures), time, steps
"""

import json
import os
import time

import keras

from keras_transformer.atomic import atomic_write_bytes, remove_stale_temporaries
from keras_transformer.config import save_config, validate
from keras_transformer.data.builtin_corpus import generate_builtin_corpus
from keras_transformer.data.fingerprint import check_corpus_unchanged
from keras_transformer.data.pipeline import make_translation_dataset, skip_epochs
from keras_transformer.data.readers import ReadStats, find_splits
from keras_transformer.data.tokenizer import SubwordTokenizer
from keras_transformer.diagnostics.monitor import AttentionMonitor, monitor_inputs
from keras_transformer.distribution import configure_devices
from keras_transformer.evaluation import evaluate_translator
from keras_transformer.training.backup import TrainingBackup, read_backup_metadata
from keras_transformer.training.callbacks import (
    CheckpointKeeper,
    HistoryLogger,
    LearningRateLogger,
    NaNGuard,
    StepLimit,
    TranslationQuality,
)
from keras_transformer.training.checkpoint_averaging import average_checkpoints
from keras_transformer.training.compiled_model import compiled_transformer
from keras_transformer.training.follower_callbacks import follower_callbacks
from keras_transformer.translator import Translator


def load_corpus(data):
    """The splits of the configured corpus.

    Returns `{"train": pairs, "valid": list, "test": list}`: train is a
    list, or for a directory corpus a callable that streams it; valid and
    test are lists (empty when the corpus has none).
    """
    if data.corpus == "builtin":
        return generate_builtin_corpus(
            seed=data.seed,
            train_size=data.builtin_train_size,
            valid_size=data.builtin_valid_size,
            test_size=data.builtin_test_size,
        )
    splits = find_splits(data.corpus, data.source_language, data.target_language)
    corpus = {"train": _CountedReads(splits["train"])}
    for name in ("valid", "test"):
        stats = ReadStats()
        corpus[name] = list(splits[name].read(stats)) if name in splits else []
        if name in splits:
            print(f"{name}: {stats.describe()}")
    return corpus


class _CountedReads:
    """Streams a split's pairs on each call; `stats` counts the last read
    (the data pipeline's first pass reads the whole split once)."""

    def __init__(self, files):
        self.files = files
        self.stats = None

    def __call__(self):
        self.stats = ReadStats()
        return self.files.read(self.stats)


def _pairs(pairs):
    return pairs() if callable(pairs) else iter(pairs)


def prepare_tokenizers(data, train_pairs, directory):
    """Loads the run's tokenizers, or trains and saves them.

    Returns `(source_tokenizer, target_tokenizer)`; the target one is `None`
    with a joint vocabulary.
    """
    source_path = os.path.join(directory, "source.model")
    target_path = os.path.join(directory, "target.model")
    if os.path.isfile(source_path):
        target = (
            SubwordTokenizer.load(target_path) if not data.joint_vocabulary else None
        )
        return SubwordTokenizer.load(source_path), target

    def train_on(sides):
        texts = (pair[side] for pair in _pairs(train_pairs) for side in sides)
        return SubwordTokenizer.train(
            texts, data.vocabulary_size, data.tokenizer_type, data.lowercase
        )

    started = time.time()
    if data.joint_vocabulary:
        source, target = train_on((0, 1)), None
    else:
        source, target = train_on((0,)), train_on((1,))
    print(
        f"Trained {'a joint' if target is None else 'two'} "
        f"{data.vocabulary_size}-piece {data.tokenizer_type} vocabulary in "
        f"{time.time() - started:.1f} s."
    )
    if target is not None:
        target.save(target_path)
    source.save(source_path)  # written last: its presence means "done"
    return source, target


def make_datasets(data, corpus, source_tokenizer, target_tokenizer, token_budget):
    """The run's tf.data datasets, as `data` (a `DataConfig`) says.

    Returns `(train, stats, validation)`: the shuffled, length-bucketed
    training batches of `token_budget` tokens and their `PipelineStats`, and
    the validation batches in order (long pairs truncated), or `None` when
    the corpus has no validation split.
    """
    train, stats = make_translation_dataset(
        corpus["train"],
        source_tokenizer,
        target_tokenizer,
        max_length=data.max_length,
        token_budget=token_budget,
        long_pairs=data.long_pairs,
        seed=data.seed,
        shuffle_buffer=data.shuffle_buffer,
    )
    validation = None
    if corpus["valid"]:
        validation, _ = make_translation_dataset(
            corpus["valid"],
            source_tokenizer,
            target_tokenizer,
            max_length=data.max_length,
            token_budget=data.token_budget,
            long_pairs="truncate",
            shuffle=False,
        )
    return train, stats, validation


def build_model(config, source_tokenizer, target_tokenizer):
    """The Transformer of the run, compiled with the paper's optimizer,
    schedule and loss (§5.3, §5.4), sized for the tokenizers."""
    return compiled_transformer(
        config,
        source_tokenizer.vocabulary_size,
        target_tokenizer.vocabulary_size if target_tokenizer else None,
    )


def make_translator(model, source_tokenizer, target_tokenizer, decode):
    """A `Translator` with the run's `DecodeConfig` (`TranslationSettings`)."""
    return Translator(model, source_tokenizer, target_tokenizer, decode)


def train(config, workdir, verbose="auto"):
    """Trains a translator as `config` says, resuming a run in `workdir`.

    Trains the tokenizer(s) (or reloads them), builds the tf.data pipeline,
    fits the model with the paper's schedule and label smoothing, evaluates
    BLEU/chrF on validation pairs during training, averages the last
    checkpoints if asked, saves the translator, and scores the test split.
    On several devices (`train.devices`, or the processes of `torchrun`) it
    trains through the backend's own engine with the recipe's global batch
    (`keras_transformer.distribution`); process 0 alone writes `workdir`.

    Args:
        config: an `ExperimentConfig`.
        workdir: the run's directory (see the module docstring). A run
            killed at any moment resumes from its last backup when `train`
            is called again with the same directory.
        verbose: Keras' `fit` verbosity.

    Returns:
        The results dict also written to `<workdir>/results.json`; on the
        other processes of a distributed run, `{"name", "process_index"}`.
    """
    validate(config)
    devices = configure_devices(config.train.devices, config.train.model_parallel)
    started = time.time()
    os.makedirs(workdir, exist_ok=True)
    if devices.is_chief:
        for path in remove_stale_temporaries(workdir):
            print(f"Removed {path}, left by a run killed while writing it.")
        save_config(config, os.path.join(workdir, "config.json"))
    keras.utils.set_random_seed(config.train.seed)
    keras.config.set_dtype_policy(config.train.mixed_precision)
    data = config.data
    corpus = load_corpus(data)
    if devices.is_chief and data.corpus != "builtin":
        splits = find_splits(data.corpus, data.source_language, data.target_language)
        check_corpus_unchanged(
            splits, os.path.join(workdir, "corpus.json"), data.corpus
        )
    source_tokenizer, target_tokenizer = devices.chief_first(
        lambda: prepare_tokenizers(
            data, corpus["train"], os.path.join(workdir, "tokenizer")
        )
    )
    dataset, stats, validation = make_datasets(
        data,
        corpus,
        source_tokenizer,
        target_tokenizer,
        devices.token_budget(data.token_budget),
    )
    if isinstance(corpus["train"], _CountedReads) and corpus["train"].stats:
        print(f"train: {corpus['train'].stats.describe()}")
    print(f"Training data: {stats.describe()}")
    dataset = devices.distribute_dataset(dataset, stats.batches)
    # A resumed run starts with the order of the epoch it resumes at, as an
    # uninterrupted run sees it there.
    skip_epochs(dataset, _resumed_epoch(os.path.join(workdir, "backup")))
    if validation is not None:
        validation = devices.distribute_dataset(validation, None, training=False)
    with devices.scope():
        model = build_model(config, source_tokenizer, target_tokenizer)
        devices.prepare_model(model)
        print(
            f"Model: {model.count_params():,} parameters, backend "
            f"{keras.backend.backend()}, {devices.describe()}."
        )
        callbacks, guard, keeper = _callbacks(
            config, workdir, corpus, source_tokenizer, target_tokenizer
        )
        if not devices.is_chief:
            callbacks, verbose = follower_callbacks(callbacks), 0
        model.fit(
            dataset,
            validation_data=validation,
            epochs=config.train.epochs,
            # One iteration of the dataset per epoch (skip_epochs relies on it).
            steps_per_epoch=int(dataset.cardinality()),
            callbacks=callbacks + devices.callbacks(),
            shuffle=False,
            verbose=verbose,
        )
    if guard.stopped_at is not None:
        raise FloatingPointError(guard.message())
    if not devices.is_chief:
        devices.barrier()  # the chief saves the translator and the results
        return {"name": config.name, "process_index": devices.process_index}
    average = config.train.average_last
    if average > 1:
        paths = keeper.checkpoint_paths()[-average:]
        average_checkpoints(model, paths)
        names = ", ".join(os.path.basename(path) for path in paths)
        print(f"Averaged the weights of the last {len(paths)} checkpoints: {names}.")
    translator = make_translator(
        model, source_tokenizer, target_tokenizer, config.decode
    )
    translator.save(os.path.join(workdir, "translator"))
    results = {
        "name": config.name,
        "backend": keras.backend.backend(),
        "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "train_pairs": stats.pairs,
        "parameters": model.count_params(),
    }
    if corpus["test"]:
        scores, _ = evaluate_translator(translator, corpus["test"], verbose=False)
        print(f"Test: {scores.describe()}")
        results["test"] = scores.__dict__
    results["wall_seconds"] = round(time.time() - started, 1)
    atomic_write_bytes(
        os.path.join(workdir, "results.json"),
        json.dumps(results, indent=2).encode(),
    )
    devices.barrier()
    return results


def _resumed_epoch(backup_dir):
    """The epoch a run resumes at: rows of it and later in history.csv were
    written by a run killed after them."""
    metadata = read_backup_metadata(backup_dir)
    return 0 if metadata is None else metadata["epoch"]


def _callbacks(config, workdir, corpus, source_tokenizer, target_tokenizer):
    train = config.train
    guard = NaNGuard(backup_dir=os.path.join(workdir, "backup"))
    callbacks = [LearningRateLogger(), guard]
    if train.max_steps:
        callbacks.append(StepLimit(train.max_steps))
    evaluating = train.eval_every_epochs > 0 and corpus["valid"]
    if evaluating:
        pairs = corpus["valid"][: train.eval_max_sentences]
        callbacks.append(
            TranslationQuality(
                lambda model: make_translator(
                    model, source_tokenizer, target_tokenizer, config.decode
                ),
                pairs,
                train.eval_every_epochs,
            )
        )
    monitor, mode = ("val_bleu", "max") if evaluating else ("val_loss", "min")
    keeper = CheckpointKeeper(
        os.path.join(workdir, "checkpoints"),
        keep=max(train.keep_checkpoints, train.average_last),
        monitor=monitor,
        mode=mode,
        save_freq=train.backup_every_steps,
    )
    if train.attention_monitor_every_epochs and corpus["valid"]:
        callbacks.append(
            AttentionMonitor(
                monitor_inputs(corpus["valid"], source_tokenizer, target_tokenizer),
                every_epochs=train.attention_monitor_every_epochs,
                log_dir=os.path.join(workdir, "logs", "attention"),
            )
        )
    callbacks += [
        keeper,
        HistoryLogger(
            os.path.join(workdir, "history.csv"),
            expected_keys=("val_bleu", "val_chrf") if evaluating else (),
            discard_from=_resumed_epoch(os.path.join(workdir, "backup")),
        ),
        keras.callbacks.TensorBoard(os.path.join(workdir, "logs")),
        # Last: an epoch is done once its end-of-epoch work above is.
        TrainingBackup(
            os.path.join(workdir, "backup"), save_freq=train.backup_every_steps
        ),
    ]
    return callbacks, guard, keeper
