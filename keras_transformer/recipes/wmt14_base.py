"""The paper's base model on WMT 2014 English→German (Table 3, "base").

Vaswani et al. 2017 report 27.3 BLEU on newstest2014 for this model (Table
2), after 100,000 steps, 12 hours on 8 P100 GPUs. Run it on GPUs, with a
directory holding train.en/train.de (about 4.5M pairs), newstest2013.en/.de
(validation) and newstest2014.en/.de (test):

    keras-transformer train wmt14_base --data-dir DIR

Everything not set here keeps the defaults, which are the paper's: Adam
(β1 0.9, β2 0.98, ε 1e-9) with 4000 warmup steps, label smoothing 0.1, beam
4, length penalty 0.6, outputs up to input length + 50 (§5.3, §5.4, §6.1).
"""

import dataclasses

from keras_transformer.config import ExperimentConfig


def get_config():
    base = ExperimentConfig()
    return dataclasses.replace(
        base,
        name="wmt14_base",
        model=dataclasses.replace(
            base.model,
            # Table 3 "base": N=6, d_model 512, d_ff 2048, h 8, P_drop 0.1.
            preset="transformer_base",
        ),
        data=dataclasses.replace(
            base.data,
            # A placeholder: the CLI's --data-dir replaces it.
            corpus="data/wmt14_en_de",
            # §5.1: byte-pair encoding, a shared source-target vocabulary of
            # about 37000 tokens (joint_vocabulary is already the default).
            vocabulary_size=37000,
            tokenizer_type="bpe",
            # WMT has a few very long, mostly misaligned pairs; fairseq's
            # prepare-wmt14en2de.sh drops pairs over 250 tokens. 256 also
            # matches decode.max_source_length.
            max_length=256,
            # §5.1: each batch held about 25000 source and 25000 target
            # tokens. On a GPU with less memory halve it and set
            # train.gradient_accumulation_steps=2.
            token_budget=25000,
        ),
        train=dataclasses.replace(
            base.train,
            # An upper bound only: max_steps ends training.
            epochs=1000,
            # §5.2: the base models trained for 100,000 steps.
            max_steps=100_000,
            # Not the paper (float32 on P100s): bfloat16 compute roughly
            # doubles throughput on A100/H100 and needs no loss scaling.
            mixed_precision="mixed_bfloat16",
            # §6.1 averages checkpoints "written at 10-minute intervals": at
            # the paper's pace (100k steps in 12 h) that is about 1400 steps.
            backup_every_steps=1400,
            # §6.1: base models use "a single model obtained by averaging the
            # last 5 checkpoints"; keep as many as are averaged.
            keep_checkpoints=5,
            average_last=5,
        ),
    )
