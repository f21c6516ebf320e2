"""Translation quality with sacreBLEU: BLEU and chrF on detokenized text.

Scores are sacreBLEU's defaults (cased BLEU with its 13a tokenizer, chrF2),
reported with their signatures so that they can be compared with published
figures. `lowercase_bleu` is BLEU on lowercased text, the variant most
published Multi30k results use (computed there on tokenized text with
multi-bleu.perl; 13a tokenization is close to it).
"""

import dataclasses

import sacrebleu


@dataclasses.dataclass(frozen=True)
class TranslationScores:
    """BLEU, chrF and lowercased BLEU of a test set, with sacreBLEU signatures."""

    bleu: float
    chrf: float
    lowercase_bleu: float
    bleu_signature: str
    chrf_signature: str
    lowercase_bleu_signature: str
    sentences: int

    def describe(self):
        return (
            f"BLEU {self.bleu:.2f} ({self.bleu_signature}) | "
            f"chrF {self.chrf:.2f} ({self.chrf_signature}) | "
            f"lowercased BLEU {self.lowercase_bleu:.2f} on {self.sentences} sentences"
        )


def score_translations(hypotheses, references):
    """Scores detokenized hypotheses against one reference each.

    Args:
        hypotheses: list of translations.
        references: list of reference translations, aligned.

    Returns:
        A `TranslationScores`.
    """
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses for {len(references)} references; "
            "they must be aligned one to one."
        )
    if not hypotheses:
        raise ValueError("Nothing to score: no hypotheses were given.")
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    lowercase = sacrebleu.metrics.BLEU(lowercase=True)
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    lowercase_score = lowercase.corpus_score(hypotheses, [references])
    return TranslationScores(
        bleu=bleu_score.score,
        chrf=chrf_score.score,
        lowercase_bleu=lowercase_score.score,
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
        lowercase_bleu_signature=str(lowercase.get_signature()),
        sentences=len(hypotheses),
    )


def evaluate_translator(translator, pairs, verbose=False):
    """Translates the sources of `(source, reference)` pairs and scores them.

    Returns `(scores, translations)`.
    """
    pairs = list(pairs)
    sources = [source for source, _ in pairs]
    translations = translator.translate(sources, verbose=verbose)
    scores = score_translations(translations, [target for _, target in pairs])
    return scores, translations
