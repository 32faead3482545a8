"""Backend-agnostic decoding: one loop, and the searches built on it."""

from keras_seq2seq.decoding.greedy import GreedySearchOutput, greedy_search
from keras_seq2seq.decoding.loop import DecodeLoopResult, decode_loop

__all__ = ["DecodeLoopResult", "GreedySearchOutput", "decode_loop", "greedy_search"]
