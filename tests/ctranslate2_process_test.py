"""benchmarks/ctranslate2_process.py: a CTranslate2 translator in a process
of its own translates as one in this process does."""

import importlib.util
import os

import keras
import pytest

from tests.tiny import fixture_model_as_ctranslate2

ctranslate2 = pytest.importorskip("ctranslate2")

SCRIPT = os.path.join(
    os.path.dirname(__file__), "..", "benchmarks", "ctranslate2_process.py"
)
spec = importlib.util.spec_from_file_location("ctranslate2_process", SCRIPT)
ctranslate2_process = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ctranslate2_process)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="does not depend on the backend: run in the TensorFlow leg",
)


def test_a_translator_process_translates_as_one_in_this_process(tmp_path):
    fixture, _, pieces = fixture_model_as_ctranslate2(tmp_path)
    sources = [[pieces[i] for i in row if i] for row in fixture["sources"].tolist()]
    options = {"beam_size": 4, "length_penalty": 0.6, "max_decoding_length": 12}

    here = ctranslate2.Translator(str(tmp_path), compute_type="float32")
    expected = [r.hypotheses[0] for r in here.translate_batch(sources, **options)]
    with ctranslate2_process.TranslatorProcess(str(tmp_path), "float32", 1) as there:
        assert there.translate_batch(sources, **options) == expected
        assert there.translate_batch(sources[:1], **options) == expected[:1]
        process = there._process
    assert process.returncode == 0  # ended with its input


def test_a_process_that_cannot_load_its_model_says_it_ended(tmp_path):
    there = ctranslate2_process.TranslatorProcess(str(tmp_path / "none"), "int8", 1)
    with pytest.raises(RuntimeError, match="the CTranslate2 process ended"):
        there.translate_batch([["d1"]])
    there.close()


def test_the_child_gets_the_cores_this_process_may_run_on(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(
        ctranslate2_process.subprocess,
        "Popen",
        lambda command, **_: commands.append(command),
    )
    monkeypatch.setattr(
        ctranslate2_process.os, "sched_getaffinity", lambda _: {0, 5, 7}
    )
    ctranslate2_process.TranslatorProcess(str(tmp_path), "int8")
    ctranslate2_process.TranslatorProcess(str(tmp_path), "int8", intra_threads=2)
    assert [command[-1] for command in commands] == ["3", "2"]
