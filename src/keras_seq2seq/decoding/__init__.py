"""Backend-agnostic decoding: one loop, and the searches and sampling built on it."""

from keras_seq2seq.decoding.beam_search import (
    BeamSearchOutput,
    beam_search,
    tile_batch,
)
from keras_seq2seq.decoding.gather_tree import gather_tree, gather_tree_from_array
from keras_seq2seq.decoding.greedy import GreedySearchOutput, greedy_search
from keras_seq2seq.decoding.loop import DecodeLoopResult, decode_loop
from keras_seq2seq.decoding.sampling import draw_tokens, filter_logits, sample

__all__ = [
    "BeamSearchOutput",
    "DecodeLoopResult",
    "GreedySearchOutput",
    "beam_search",
    "decode_loop",
    "draw_tokens",
    "filter_logits",
    "gather_tree",
    "gather_tree_from_array",
    "greedy_search",
    "sample",
    "tile_batch",
]
