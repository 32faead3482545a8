"""keras-seq2seq: sequence-to-sequence models with attention for Keras 3."""

from keras_seq2seq import seq2seq
from keras_seq2seq.attention import (
    AttentionMechanism,
    BahdanauAttention,
    BahdanauMonotonicAttention,
    LuongAttention,
    LuongMonotonicAttention,
    context,
    hardmax,
    monotonic_attention,
    safe_cumprod,
    softmax,
)
from keras_seq2seq.layers import AttentionCell, AttentionDecoder, AttentionLayer

__version__ = "0.1.0"

__all__ = [
    "AttentionCell",
    "AttentionDecoder",
    "AttentionLayer",
    "AttentionMechanism",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "LuongAttention",
    "LuongMonotonicAttention",
    "context",
    "hardmax",
    "monotonic_attention",
    "safe_cumprod",
    "seq2seq",
    "softmax",
]
