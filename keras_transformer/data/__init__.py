"""Data: parallel corpus readers, subword tokenizers, the tf.data pipeline,
and the built-in offline English-German corpus. TensorFlow is used here."""
