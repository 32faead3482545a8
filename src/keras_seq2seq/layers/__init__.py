"""Recurrent and drop-in layers built on the attention mechanisms, and
`PackedGRU`, the pipeline encoder's GRU."""

from keras_seq2seq.layers.attention_cell import AttentionCell
from keras_seq2seq.layers.attention_decoder import AttentionDecoder
from keras_seq2seq.layers.attention_layer import AttentionLayer
from keras_seq2seq.layers.packed_gru import PackedGRU

__all__ = ["AttentionCell", "AttentionDecoder", "AttentionLayer", "PackedGRU"]
