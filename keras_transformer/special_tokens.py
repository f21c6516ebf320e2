"""The vocabulary's special-token ids: the model's convention.

Padding is 0 (`Transformer(padding_id=0)`), decoding starts every output
with START_ID and ends it with END_ID, and the tokenizers assign these ids
(the ones keras-hub's SentencePiece trainer gives). This module imports
nothing, so every layer of the package can use it: layers and decoding as
much as the data pipeline.
"""

PAD_ID = 0
UNKNOWN_ID = 1
START_ID = 2
END_ID = 3
SPECIAL_IDS = (PAD_ID, UNKNOWN_ID, START_ID, END_ID)
