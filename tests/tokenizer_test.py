import numpy as np
import pytest

from keras_transformer.data.tokenizer import SubwordTokenizer
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID, UNKNOWN_ID
from tests.data_helpers import make_pairs


@pytest.fixture(scope="module")
def tokenizer():
    pairs = make_pairs(300)
    return SubwordTokenizer.train([t for pair in pairs for t in pair], 60)


def test_special_tokens_have_fixed_ids(tokenizer):
    assert (PAD_ID, UNKNOWN_ID, START_ID, END_ID) == (0, 1, 2, 3)
    assert tokenizer.vocabulary_size == 60
    ids = np.asarray(tokenizer.tokenize("Der Hund läuft im Park."))
    assert ids.min() > END_ID  # no specials in ordinary text


@pytest.mark.parametrize(
    "text",
    [
        "Der Hund läuft im Park.",
        "Das Kind wartet in der Nähe des Flusses und Eine Frau singt zu Hause.",
        "The child sleeps on the street.",
    ],
)
def test_round_trip_keeps_spaces_and_punctuation(tokenizer, text):
    assert tokenizer.detokenize(tokenizer.tokenize(text)) == text


def test_batches_and_special_tokens_in_detokenize(tokenizer):
    texts = ["Der Hund läuft.", "Eine Frau singt zu Hause."]
    ids = tokenizer.tokenize(texts)
    assert tokenizer.detokenize(ids) == texts
    one = [START_ID, *np.asarray(tokenizer.tokenize("Der Hund.")), END_ID, 9, 9, PAD_ID]
    assert tokenizer.detokenize(one) == "Der Hund."


def test_unseen_characters_map_to_unknown_not_a_crash(tokenizer):
    ids = np.asarray(tokenizer.tokenize("Der Hund 東京 läuft ✓."))
    assert UNKNOWN_ID in ids.tolist()
    assert "Der Hund" in tokenizer.detokenize(ids)


def test_save_and_load(tokenizer, tmp_path):
    path = tmp_path / "nested" / "tokenizer.model"
    tokenizer.save(str(path))
    restored = SubwordTokenizer.load(str(path))
    text = "Der Hund läuft im Park."
    np.testing.assert_array_equal(
        np.asarray(restored.tokenize(text)), np.asarray(tokenizer.tokenize(text))
    )
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.model"]


def test_errors():
    with pytest.raises(ValueError, match="lower vocabulary_size"):
        SubwordTokenizer.train(["tiny corpus"], 5000)
    with pytest.raises(ValueError, match="model_type"):
        SubwordTokenizer.train(["a"], 10, model_type="wordpiece")
    with pytest.raises(FileNotFoundError, match="No tokenizer"):
        SubwordTokenizer.load("/nonexistent/tokenizer.model")
    with pytest.raises(ValueError, match="bytes"):
        SubwordTokenizer(b"")
