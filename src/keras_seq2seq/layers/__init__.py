"""Recurrent and drop-in layers built on the attention mechanisms."""

from keras_seq2seq.layers.attention_cell import AttentionCell
from keras_seq2seq.layers.attention_decoder import AttentionDecoder
from keras_seq2seq.layers.attention_layer import AttentionLayer

__all__ = ["AttentionCell", "AttentionDecoder", "AttentionLayer"]
