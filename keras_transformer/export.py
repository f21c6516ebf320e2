"""SavedModel export for serving: a batch of strings in, translations out.

The exported graph holds the whole translator: SentencePiece tokenization
(tensorflow-text ops), the encoder, the cached beam (or greedy) search and
detokenization. Plain TensorFlow serves it without this package, once
`import tensorflow_text` has registered the SentencePiece ops:
`tf.saved_model.load`, a TF1 session (`tf.compat.v1.saved_model.loader`,
which `saved_model_cli run` uses), or a TensorFlow Serving model server
built with tensorflow-text's ops.

Signatures:
    serving_default(inputs: string[batch]) ->
        translations: string[batch], scores: float32[batch]
    token_ids(inputs: string[batch]) ->
        token_ids: int32[batch, num_beams, length], scores: float32[batch, num_beams]
        (n-best target ids, best first; the end token ends each row)

The graph is built by the TensorFlow backend. Weights are the same on every
backend, so a translator trained on JAX or PyTorch (which cannot write a
SavedModel) is exported by a TensorFlow-backend process: `export_saved_model`
starts one when the current backend is another.

Exports go to `<export_base>/<name>/<version>/`, the layout TensorFlow
Serving watches; each version directory appears atomically.
"""

import json
import os
import re
import subprocess
import sys

import keras
import tensorflow as tf

from keras_transformer.atomic import atomic_directory, remove_stale_temporaries
from keras_transformer.special_tokens import END_ID
from keras_transformer.translator import Translator, check_saved_translator

EXPORT_INFO_FILE = "assets.extra/export_info.json"


class TranslationModule(tf.Module):
    """A `tf.Module` with the serving functions of a `Translator`
    (TensorFlow backend only)."""

    def __init__(self, translator):
        super().__init__(name="translator")
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "TranslationModule needs the tensorflow backend; use "
                "export_saved_model, which starts a TensorFlow process."
            )
        # Track the backend's tf.Variables, not the Keras model: through the
        # Keras variables each weight would be saved twice, and loaders that
        # restore by variable name (TensorFlow Serving, `saved_model_cli
        # run`, TF1 sessions) would restore the copy the graph does not read
        # ("Could not find variable ...", keras-team/keras#20095).
        self.model_variables = [
            variable.value for variable in translator.generator.variables
        ]
        self._translator = translator
        spec = tf.TensorSpec([None], tf.string, name="inputs")
        self.serving_default = tf.function(self._translate, input_signature=[spec])
        self.token_ids = tf.function(self._token_ids, input_signature=[spec])

    def _search(self, inputs):
        translator = self._translator
        # The SentencePiece ops are built in the traced graph (see
        # SubwordTokenizer.tf_tokenize); the model proto is a graph constant.
        source = translator.source_tokenizer.tf_tokenize(inputs)
        source = source[:, : translator.source_length_limit]
        source = source.to_tensor()
        # A batch of empty strings still needs one (padding) column.
        missing = tf.maximum(1 - tf.shape(source)[1], 0)
        source = tf.pad(source, [[0, 0], [0, missing]])
        outputs = translator.generator(source)
        return outputs["token_ids"], outputs["scores"]

    def _token_ids(self, inputs):
        token_ids, scores = self._search(inputs)
        return {"token_ids": token_ids, "scores": scores}

    def _translate(self, inputs):
        token_ids, scores = self._search(inputs)
        best = token_ids[:, 0]
        # Keep the tokens before the first end token.
        before_end = tf.cumsum(tf.cast(best == END_ID, tf.int32), axis=1) == 0
        lengths = tf.reduce_sum(tf.cast(before_end, tf.int32), axis=1)
        ragged = tf.RaggedTensor.from_tensor(best, lengths=lengths)
        translations = self._translator.output_tokenizer.tf_detokenize(ragged)
        return {"translations": translations, "scores": scores[:, 0]}


def next_version(export_base, name):
    """1 + the largest numeric version under `<export_base>/<name>/`."""
    directory = os.path.join(export_base, name)
    if not os.path.isdir(directory):
        return 1
    versions = [int(v) for v in os.listdir(directory) if re.fullmatch(r"\d+", v)]
    return max(versions, default=0) + 1


def export_saved_model(
    translator_dir,
    export_base="saved_models",
    name=None,
    version=None,
    **overrides,
):
    """Exports a saved translator as a SavedModel for serving.

    Args:
        translator_dir: a directory written by `Translator.save`.
        export_base: where the `<name>/<version>/` tree goes.
        name: model name; defaults to the basename of the training run
            (`translator_dir`'s parent when it is called `translator`).
        version: integer version; defaults to one more than the latest.
        **overrides: decoding settings (e.g. `num_beams=1`), see `Translator`.

    Returns:
        The path of the written version directory.
    """
    saved_config = check_saved_translator(translator_dir)  # fails early
    if name is None:
        name = default_name(translator_dir)
    remove_stale_temporaries(os.path.join(export_base, name))
    if version is None:
        version = next_version(export_base, name)
    path = os.path.join(export_base, name, str(int(version)))
    if os.path.exists(path):
        raise FileExistsError(
            f"{path} exists; TensorFlow Serving may be serving it. Choose "
            "another version (or leave version unset for the next one)."
        )
    if keras.backend.backend() != "tensorflow":
        _export_in_tensorflow_process(
            translator_dir, export_base, name, version, overrides
        )
        return path
    translator = Translator.load(translator_dir, **overrides)
    module = TranslationModule(translator)
    signatures = {
        "serving_default": module.serving_default,
        "token_ids": module.token_ids,
    }
    info = {
        "translator": os.path.abspath(translator_dir),
        "decoding": translator.decoding_settings(),
        "trained_on_backend": saved_config.get("saved_by_backend"),
        "signatures": sorted(signatures),
    }
    with atomic_directory(path) as temporary:
        tf.saved_model.save(module, temporary, signatures=signatures)
        info_path = os.path.join(temporary, EXPORT_INFO_FILE)
        os.makedirs(os.path.dirname(info_path), exist_ok=True)
        with open(info_path, "w") as file:
            json.dump(info, file, indent=2)
    return path


def default_name(translator_dir):
    """The name of an export: the training run's directory name."""
    directory = os.path.abspath(translator_dir)
    if os.path.basename(directory) == "translator":
        directory = os.path.dirname(directory)
    return os.path.basename(directory) or "translator"


def _export_in_tensorflow_process(
    translator_dir, export_base, name, version, overrides
):
    """Runs the export under the tensorflow backend in a child process."""
    request = {
        "translator_dir": os.path.abspath(translator_dir),
        "export_base": os.path.abspath(export_base),
        "name": name,
        "version": int(version),
        "overrides": overrides,
    }
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    completed = subprocess.run(
        [sys.executable, "-m", "keras_transformer.export", json.dumps(request)],
        env=environment,
        capture_output=True,
        text=True,
    )
    if completed.returncode == _USER_ERROR_EXIT:
        # The child raised an error about the user's input: raise it here,
        # with its message, rather than its traceback.
        error = json.loads(completed.stdout.strip().splitlines()[-1])
        raise _USER_ERRORS[error["type"]](error["message"])
    if completed.returncode != 0:
        raise RuntimeError(
            f"The TensorFlow-backend export process failed (exit "
            f"{completed.returncode}):\n{completed.stderr[-3000:]}"
        )


# Errors about the user's input, which the export process reports as one JSON
# line on standard output and exit status 2.
_USER_ERRORS = {
    error.__name__: error
    for error in (ValueError, TypeError, FileNotFoundError, FileExistsError)
}
_USER_ERROR_EXIT = 2


def _main(argv):
    request = json.loads(argv[1])
    try:
        export_saved_model(
            request["translator_dir"],
            request["export_base"],
            request["name"],
            request["version"],
            **request["overrides"],
        )
    except tuple(_USER_ERRORS.values()) as error:
        kind = next(n for n, cls in _USER_ERRORS.items() if isinstance(error, cls))
        report = {"type": kind, "message": str(error)}
        print(json.dumps(report), flush=True)
        sys.exit(_USER_ERROR_EXIT)


if __name__ == "__main__":
    _main(sys.argv)
