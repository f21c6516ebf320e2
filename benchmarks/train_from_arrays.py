"""Train a recipe on a machine without TensorFlow, from pre-made batches.

The package's data pipeline is tf.data, but its model, loss, schedule,
callbacks and search need only Keras and a backend. An accelerator machine
with a JAX or PyTorch image (and no TensorFlow) trains a recipe from batches
the pipeline made elsewhere, in three steps:

    # 1. where TensorFlow is installed: tokenizer(s), batches, eval sources
    python benchmarks/train_from_arrays.py prepare multi30k \\
        --data-dir data/multi30k --out runs/arrays
    # 2. on the accelerator machine (keras and a backend only)
    KERAS_BACKEND=jax python benchmarks/train_from_arrays.py fit runs/arrays \\
        --out runs/fitted
    # 3. where TensorFlow is installed: detokenize and score (sacreBLEU)
    python benchmarks/train_from_arrays.py score runs/arrays runs/fitted

`prepare` writes `--epochs-of-batches` epochs of the recipe's shuffled,
length-bucketed batches (the pipeline's own, int16); `fit` cycles through
them for the recipe's epochs, validates on the validation batches, averages
the last checkpoints as the recipe says, and beam-searches the validation
and test sources with the recipe's decoding settings. It writes the token
ids, `history.csv`, `results.json` (times, steps) and the trained weights in
parts under 16 MB. `score` prints sacreBLEU (cased 13a and lowercased) and
chrF, and with `--translator DIR` saves a `Translator` with the trained
weights (for `keras-transformer evaluate` or `export`).
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

EVAL_SPLITS = ("valid", "test")


def _write_ragged(path, rows):
    rows = [np.asarray(r, "int32") for r in rows]
    lengths = np.array([len(r) for r in rows], "int64")
    values = np.concatenate(rows) if rows else np.zeros((0,), "int32")
    np.savez_compressed(path, values=values, lengths=lengths)


def _read_ragged(path):
    data = np.load(path)
    ends = np.cumsum(data["lengths"])
    return np.split(data["values"], ends[:-1]) if len(ends) else []


def prepare(args):
    from keras_transformer.config import apply_overrides, save_config, validate
    from keras_transformer.recipes import load_recipe
    from keras_transformer.training.trainer import (
        load_corpus,
        make_datasets,
        prepare_tokenizers,
    )

    overrides = list(args.set)
    if args.data_dir:
        overrides.append(f"data.corpus={args.data_dir}")
    config = apply_overrides(load_recipe(args.recipe), overrides)
    validate(config)
    data = config.data
    os.makedirs(args.out, exist_ok=True)
    save_config(config, os.path.join(args.out, "config.json"))
    corpus = load_corpus(data)
    source_tokenizer, target_tokenizer = prepare_tokenizers(
        data, corpus["train"], os.path.join(args.out, "tokenizer")
    )
    output_tokenizer = target_tokenizer or source_tokenizer
    largest = max(source_tokenizer.vocabulary_size, output_tokenizer.vocabulary_size)
    if largest > np.iinfo("int16").max:
        raise ValueError(f"A vocabulary of {largest} pieces does not fit int16.")
    dataset, stats, validation = make_datasets(
        data, corpus, source_tokenizer, target_tokenizer, data.token_budget
    )
    print(f"Training data: {stats.describe()}")
    if validation is None:
        raise ValueError(f"{data.corpus} has no validation split; fit needs one.")

    def arrays(batches, prefix):
        # Each pass over a shuffled dataset draws a new order (tf.data
        # reshuffles every iteration), as fit's epochs would.
        out = {}
        for index, (inputs, labels, _) in enumerate(batches):
            out[f"{prefix}{index:05d}_encoder"] = inputs["encoder_token_ids"].numpy()
            out[f"{prefix}{index:05d}_decoder"] = inputs["decoder_token_ids"].numpy()
            out[f"{prefix}{index:05d}_labels"] = labels.numpy()
        return {k: v.astype("int16") for k, v in out.items()}

    train = {}
    for epoch in range(args.epochs_of_batches):
        train.update(arrays(dataset, f"epoch{epoch:03d}_"))
    np.savez_compressed(os.path.join(args.out, "train_batches.npz"), **train)
    np.savez_compressed(
        os.path.join(args.out, "valid_batches.npz"), **arrays(validation, "valid_")
    )
    references = {}
    for split in EVAL_SPLITS:
        pairs = corpus[split]
        ids = source_tokenizer.tokenize([source for source, _ in pairs])
        _write_ragged(
            os.path.join(args.out, f"{split}_sources.npz"),
            [row[: config.decode.max_source_length] for row in ids],
        )
        references[split] = [target for _, target in pairs]
    meta = {
        "recipe": config.name,
        "source_vocabulary_size": source_tokenizer.vocabulary_size,
        "target_vocabulary_size": (
            target_tokenizer.vocabulary_size if target_tokenizer else None
        ),
        "batches_per_epoch": stats.batches,
        "epochs_of_batches": args.epochs_of_batches,
        "train_pairs": stats.pairs,
        "dropped_too_long": stats.dropped_too_long,
        "references": references,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as file:
        json.dump(meta, file)
    size = sum(
        os.path.getsize(os.path.join(args.out, name))
        for name in os.listdir(args.out)
        if name.endswith(".npz")
    )
    print(f"Wrote {args.out}: {size / 2**20:.1f} MiB of arrays.")


def fit(args):
    import keras

    from keras_transformer.config import load_config
    from keras_transformer.decoding import Generator
    from keras_transformer.special_tokens import PAD_ID
    from keras_transformer.training.callbacks import (
        CheckpointKeeper,
        HistoryLogger,
        LearningRateLogger,
        NaNGuard,
    )
    from keras_transformer.training.checkpoint_averaging import average_checkpoints
    from keras_transformer.training.compiled_model import compiled_transformer
    from keras_transformer.translator import search_in_batches

    config = load_config(os.path.join(args.prepared, "config.json"))
    if args.epochs:
        config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, epochs=args.epochs)
        )
    with open(os.path.join(args.prepared, "meta.json")) as file:
        meta = json.load(file)
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(config.train.seed)
    keras.config.set_dtype_policy(config.train.mixed_precision)

    class Batches(keras.utils.PyDataset):
        """The prepared batches; epoch e reads prepared epoch e mod K."""

        def __init__(self, arrays, prefixes):
            super().__init__()
            self.arrays, self.prefixes, self.epoch = arrays, prefixes, 0
            # Every prepared epoch holds the same number of batches.
            self.batches = sum(
                key.startswith(prefixes[0]) and key.endswith("_labels")
                for key in arrays
            )

        def __len__(self):
            return self.batches

        def __getitem__(self, index):
            prefix = f"{self.prefixes[self.epoch % len(self.prefixes)]}{index:05d}_"
            labels = self.arrays[prefix + "labels"].astype("int32")
            inputs = {
                "encoder_token_ids": self.arrays[prefix + "encoder"].astype("int32"),
                "decoder_token_ids": self.arrays[prefix + "decoder"].astype("int32"),
            }
            return inputs, labels, (labels != PAD_ID).astype("float32")

        def on_epoch_end(self):
            self.epoch += 1

    def load(name):
        with np.load(os.path.join(args.prepared, name)) as data:
            return {key: data[key] for key in data.files}

    train = Batches(
        load("train_batches.npz"),
        [f"epoch{e:03d}_" for e in range(meta["epochs_of_batches"])],
    )
    validation = Batches(load("valid_batches.npz"), ["valid_"])
    model = compiled_transformer(
        config, meta["source_vocabulary_size"], meta["target_vocabulary_size"]
    )
    print(
        f"Model: {model.count_params():,} parameters, backend "
        f"{keras.backend.backend()}, devices {_devices()}."
    )
    train_config = config.train
    keeper = CheckpointKeeper(
        os.path.join(args.out, "checkpoints"),
        keep=max(train_config.keep_checkpoints, train_config.average_last),
        monitor="val_loss",
        mode="min",
    )
    started = time.time()
    model.fit(
        train,
        validation_data=validation,
        epochs=train_config.epochs,
        callbacks=[
            LearningRateLogger(),
            NaNGuard(),
            keeper,
            HistoryLogger(os.path.join(args.out, "history.csv")),
        ],
        verbose=2,
    )
    fit_seconds = time.time() - started
    if train_config.average_last > 1:
        paths = keeper.checkpoint_paths()[-train_config.average_last :]
        average_checkpoints(model, paths)
        print(f"Averaged {', '.join(os.path.basename(p) for p in paths)}.")
    decode = config.decode
    generator = Generator(model, decode)
    results = {
        "recipe": meta["recipe"],
        "backend": keras.backend.backend(),
        "devices": _devices(),
        "epochs": train_config.epochs,
        "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "fit_seconds": round(fit_seconds, 1),
    }
    for split in EVAL_SPLITS:
        sources = _read_ragged(os.path.join(args.prepared, f"{split}_sources.npz"))
        started = time.time()
        token_ids, _ = search_in_batches(generator, sources, decode.batch_size)
        results[f"{split}_search_seconds"] = round(time.time() - started, 1)
        _write_ragged(
            os.path.join(args.out, f"{split}_hypotheses.npz"),
            [_until_end(ids[0]) for ids in token_ids],
        )
    weights = model.get_weights()
    part, parts, size = {}, [], 0
    for index, value in enumerate(weights):
        if part and size + value.nbytes > 12 * 2**20:
            parts.append(part)
            part, size = {}, 0
        part[f"w{index:04d}"] = value
        size += value.nbytes
    parts.append(part)
    for number, part in enumerate(parts):
        np.savez(os.path.join(args.out, f"weights-{number}.npz"), **part)
    with open(os.path.join(args.out, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    print(json.dumps(results, indent=2))


def _devices():
    import keras

    if keras.backend.backend() == "torch":
        import torch  # keras.distribution has no device list on torch

        return ["cuda"] if torch.cuda.is_available() else ["cpu"]
    return [str(device) for device in keras.distribution.list_devices()]


def _until_end(ids):
    from keras_transformer.special_tokens import END_ID, PAD_ID

    ids = [int(i) for i in ids]
    for stop in (END_ID, PAD_ID):
        if stop in ids:
            ids = ids[: ids.index(stop)]
    return ids


def score(args):
    from keras_transformer.config import load_config
    from keras_transformer.evaluation import score_translations
    from keras_transformer.training.trainer import (
        build_model,
        make_translator,
        prepare_tokenizers,
    )

    config = load_config(os.path.join(args.prepared, "config.json"))
    with open(os.path.join(args.prepared, "meta.json")) as file:
        meta = json.load(file)
    source_tokenizer, target_tokenizer = prepare_tokenizers(
        config.data, None, os.path.join(args.prepared, "tokenizer")
    )
    output_tokenizer = target_tokenizer or source_tokenizer
    with open(os.path.join(args.fitted, "results.json")) as file:
        results = json.load(file)
    print(json.dumps(results, indent=2))
    for split in EVAL_SPLITS:
        ids = _read_ragged(os.path.join(args.fitted, f"{split}_hypotheses.npz"))
        hypotheses = [output_tokenizer.detokenize(row) for row in ids]
        scores = score_translations(hypotheses, meta["references"][split])
        print(f"{split}: {scores.describe()}")
    if args.translator:
        model = build_model(config, source_tokenizer, target_tokenizer)
        names = sorted(n for n in os.listdir(args.fitted) if n.startswith("weights-"))
        weights = {}
        for name in names:
            with np.load(os.path.join(args.fitted, name)) as part:
                weights.update({key: part[key] for key in part.files})
        model.set_weights([weights[key] for key in sorted(weights)])
        translator = make_translator(
            model, source_tokenizer, target_tokenizer, config.decode
        )
        translator.save(args.translator)
        print(f"Saved the translator to {args.translator}.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("prepare", help="tokenize and batch (TensorFlow)")
    command.add_argument("recipe")
    command.add_argument("--data-dir")
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    command.add_argument("--out", required=True)
    command.add_argument("--epochs-of-batches", type=int, default=8)
    command = commands.add_parser("fit", help="train and search (keras only)")
    command.add_argument("prepared")
    command.add_argument("--out", required=True)
    command.add_argument("--epochs", type=int, help="instead of the recipe's")
    command = commands.add_parser("score", help="detokenize and score (TensorFlow)")
    command.add_argument("prepared")
    command.add_argument("fitted")
    command.add_argument("--translator", help="save a Translator here")
    args = parser.parse_args()
    {"prepare": prepare, "fit": fit, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
