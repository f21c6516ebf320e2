"""Special-token ids shared by tokenizers, the data pipeline and decoding.

They are the ids keras-hub's SentencePiece trainer assigns, and this module
imports nothing, so code that must stay backend-neutral can use them.
"""

PAD_ID = 0
UNKNOWN_ID = 1
START_ID = 2
END_ID = 3
SPECIAL_IDS = (PAD_ID, UNKNOWN_ID, START_ID, END_ID)
