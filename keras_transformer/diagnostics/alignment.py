"""The attention of a `Translator` on one sentence, with SentencePiece labels."""

import dataclasses

import numpy as np
import sentencepiece

from keras_transformer.diagnostics.attention import AttentionMaps, extract_attention
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID


@dataclasses.dataclass
class TranslationAttention:
    """A source sentence, its translation, and the attention between them.

    Attributes:
        source: the source sentence.
        translation: the translation (produced by the model, or given).
        source_pieces: one SentencePiece piece per source token (the keys of
            cross-attention).
        target_pieces: per decoder position, the piece it predicts: the
            translation's pieces then `</s>` (the queries).
        maps: `AttentionMaps` of the pass on (source, start + translation),
            batch of one.
    """

    source: str
    translation: str
    source_pieces: list
    target_pieces: list
    maps: AttentionMaps


def _pieces(tokenizer, ids):
    processor = sentencepiece.SentencePieceProcessor(model_proto=tokenizer.proto)
    return [processor.id_to_piece(int(i)) for i in ids]


def _strip_specials(ids):
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    if ids and ids[0] == START_ID:
        ids = ids[1:]
    if END_ID in ids:
        ids = ids[: ids.index(END_ID)]
    return [i for i in ids if i != PAD_ID]


def translation_attention(translator, source, translation=None):
    """Translates `source` (or takes `translation`) and extracts the attention.

    The search runs as `translate` does (fused attention, cached decoding);
    then one full forward pass over (source, start token + translation) takes
    the explicit path to return the weights of every layer and head.

    Args:
        translator: a `keras_transformer.translator.Translator`.
        source: one source sentence.
        translation: a target sentence to align instead of the model's own
            translation (e.g. a reference).

    Returns:
        `TranslationAttention`.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"Expected a non-empty source sentence; got {source!r}.")
    source_ids = [int(i) for i in translator.encode_sources([source])[0]]
    tokenizer = translator.output_tokenizer
    if translation is None:
        found, _ = translator.search([np.asarray(source_ids, "int32")])
        target_ids = _strip_specials(found[0][0])
        translation = tokenizer.detokenize(target_ids)
    else:
        target_ids = [int(i) for i in tokenizer.tokenize(translation)]
    inputs = {
        "encoder_token_ids": np.asarray([source_ids], "int32"),
        "decoder_token_ids": np.asarray([[START_ID, *target_ids]], "int32"),
    }
    if translator.model.padding_mask_inputs:
        inputs["encoder_padding_mask"] = inputs["encoder_token_ids"] != PAD_ID
        inputs["decoder_padding_mask"] = inputs["decoder_token_ids"] != PAD_ID
    return TranslationAttention(
        source=source,
        translation=translation,
        source_pieces=_pieces(translator.source_tokenizer, source_ids),
        target_pieces=[*_pieces(tokenizer, target_ids), "</s>"],
        maps=extract_attention(translator.model, inputs),
    )
