"""Multi30k English→German (29,000 pairs): transformer_small, 50 epochs, for a GPU.

Multi30k is Elliott et al. 2016. A small model sized for the corpus, as in
published small-Transformer setups for Multi30k, with the paper's label
smoothing (0.1) and beam search (beam 4, length penalty 0.6), which are the
defaults. The data directory holds train.en/.de, val.en/.de and
test_2016_flickr.en/.de (the layout of the multi30k-dataset repository's
data/task1/raw, decompressed):

    keras-transformer train multi30k --data-dir DIR

An epoch is 137 batches of 4096 tokens (470k target tokens). On a GPU it
takes seconds; on 2 CPU cores about 8 minutes (transformer_small trains at
750-1,150 tokens/s there, see docs/benchmarks.md).
"""

import dataclasses

from keras_transformer.config import ExperimentConfig


def get_config():
    base = ExperimentConfig()
    return dataclasses.replace(
        base,
        name="multi30k",
        model=dataclasses.replace(
            base.model,
            # 3 layers, 4 heads, d_model 256, d_ff 1024: 7.6M parameters with
            # 8000 pieces; the paper's base (65M) would overfit 29k pairs.
            preset="transformer_small",
            # 29k pairs overfit fast; fairseq's small-data recipe (IWSLT'14,
            # 160k pairs) already uses 0.3.
            dropout=0.3,
        ),
        data=dataclasses.replace(
            base.data,
            # A placeholder: the CLI's --data-dir replaces it.
            corpus="data/multi30k",
            # default vocabulary_size: 8000 joint pieces, as the preset.
        ),
        train=dataclasses.replace(
            base.train,
            # About 6,900 updates of 137 per epoch.
            epochs=50,
            # The paper's 4000 would be 29 epochs here: warm up for about 6.
            warmup_steps=800,
            # A peak learning rate of 1.1e-3 (0.5 * (256 * 800)^-0.5), then
            # 4.4e-4 at the end; the paper's base peaks at 7e-4.
            learning_rate_scale=0.5,
            # Beam search over the 1,014 validation sentences is slow on a
            # CPU: every 5 epochs.
            eval_every_epochs=5,
            eval_max_sentences=None,
            # Average the last 5 epochs' weights (§6.1 averages the last 5
            # checkpoints of the base model).
            keep_checkpoints=5,
            average_last=5,
        ),
    )
