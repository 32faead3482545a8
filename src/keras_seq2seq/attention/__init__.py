"""Attention mechanisms and the math under them."""

from keras_seq2seq.attention.bahdanau import BahdanauAttention
from keras_seq2seq.attention.base import AttentionMechanism
from keras_seq2seq.attention.functions import (
    context,
    hardmax,
    monotonic_attention,
    safe_cumprod,
    softmax,
)
from keras_seq2seq.attention.luong import LuongAttention
from keras_seq2seq.attention.monotonic import (
    BahdanauMonotonicAttention,
    LuongMonotonicAttention,
    MonotonicAttention,
)

__all__ = [
    "AttentionMechanism",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "LuongAttention",
    "LuongMonotonicAttention",
    "MonotonicAttention",
    "context",
    "hardmax",
    "monotonic_attention",
    "safe_cumprod",
    "softmax",
]
