"""Architecture presets: the paper's models (Table 3) and small CPU models.

Presets fix the architecture, not the weights: `Transformer.from_preset`
returns a freshly initialized model. `vocabulary_size` is that of the paper's
shared English-German BPE vocabulary (§5.1: about 37000 tokens); override it
with the size of your tokenizer's vocabulary.
"""

PRESETS = {
    # Vaswani et al. 2017, Table 3, "base": N=6, d_model=512, d_ff=2048, h=8,
    # d_k=d_v=64, P_drop=0.1; 65M parameters.
    "transformer_base": {
        "vocabulary_size": 37000,
        "num_layers": 6,
        "num_heads": 8,
        "hidden_dim": 512,
        "intermediate_dim": 2048,
        "dropout": 0.1,
    },
    # Table 3, "big": N=6, d_model=1024, d_ff=4096, h=16, d_k=d_v=64,
    # P_drop=0.3 (the EN-DE setting; EN-FR used 0.1); 213M parameters.
    "transformer_big": {
        "vocabulary_size": 37000,
        "num_layers": 6,
        "num_heads": 16,
        "hidden_dim": 1024,
        "intermediate_dim": 4096,
        "dropout": 0.3,
    },
    # Sized for Multi30k-scale corpora on a few CPU cores or one small GPU.
    "transformer_small": {
        "vocabulary_size": 8000,
        "num_layers": 3,
        "num_heads": 4,
        "hidden_dim": 256,
        "intermediate_dim": 1024,
        "dropout": 0.1,
    },
    # For toy tasks, tests and the built-in corpus: trains in minutes on CPU.
    "transformer_tiny": {
        "vocabulary_size": 1000,
        "num_layers": 2,
        "num_heads": 4,
        "hidden_dim": 128,
        "intermediate_dim": 512,
        "dropout": 0.1,
    },
}

# Parameter counts the paper reports (Table 3), for the tests.
PAPER_PARAMETER_COUNTS = {"transformer_base": 65e6, "transformer_big": 213e6}
# Table 3 row (B): the base model with d_k of 16 and 32 (d_v stays 64).
PAPER_ROW_B_PARAMETER_COUNTS = {16: 58e6, 32: 60e6}
