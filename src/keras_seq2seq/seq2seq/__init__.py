"""The tensorflow_addons `tfa.seq2seq` API on Keras 3.

`import keras_seq2seq as tfa` makes `tfa.seq2seq.X` and
`tfa.seq2seq.<module>.X` work as with tensorflow_addons 0.23, on every
backend. The classes are adapters over the library's attention mechanisms and
decoding core; `docs/migrating_from_tfa.md` lists the differences.
"""

from keras_seq2seq.seq2seq import (
    attention_wrapper,
    basic_decoder,
    beam_search_decoder,
    decoder,
    loss,
    sampler,
)
from keras_seq2seq.seq2seq.attention_wrapper import (
    AttentionMechanism,
    AttentionWrapper,
    AttentionWrapperState,
    BahdanauAttention,
    BahdanauMonotonicAttention,
    LuongAttention,
    LuongMonotonicAttention,
    hardmax,
    monotonic_attention,
    safe_cumprod,
)
from keras_seq2seq.seq2seq.basic_decoder import BasicDecoder, BasicDecoderOutput
from keras_seq2seq.seq2seq.beam_search_decoder import (
    BeamSearchDecoder,
    BeamSearchDecoderOutput,
    BeamSearchDecoderState,
    FinalBeamSearchDecoderOutput,
    gather_tree,
    gather_tree_from_array,
    tile_batch,
)
from keras_seq2seq.seq2seq.decoder import BaseDecoder, Decoder, dynamic_decode
from keras_seq2seq.seq2seq.loss import SequenceLoss, sequence_loss
from keras_seq2seq.seq2seq.sampler import (
    CustomSampler,
    GreedyEmbeddingSampler,
    InferenceSampler,
    SampleEmbeddingSampler,
    Sampler,
    ScheduledEmbeddingTrainingSampler,
    ScheduledOutputTrainingSampler,
    TrainingSampler,
)

__all__ = [
    "AttentionMechanism",
    "AttentionWrapper",
    "AttentionWrapperState",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "BaseDecoder",
    "BasicDecoder",
    "BasicDecoderOutput",
    "BeamSearchDecoder",
    "BeamSearchDecoderOutput",
    "BeamSearchDecoderState",
    "CustomSampler",
    "Decoder",
    "FinalBeamSearchDecoderOutput",
    "GreedyEmbeddingSampler",
    "InferenceSampler",
    "LuongAttention",
    "LuongMonotonicAttention",
    "SampleEmbeddingSampler",
    "Sampler",
    "ScheduledEmbeddingTrainingSampler",
    "ScheduledOutputTrainingSampler",
    "SequenceLoss",
    "TrainingSampler",
    "attention_wrapper",
    "basic_decoder",
    "beam_search_decoder",
    "decoder",
    "dynamic_decode",
    "gather_tree",
    "gather_tree_from_array",
    "hardmax",
    "loss",
    "monotonic_attention",
    "safe_cumprod",
    "sampler",
    "sequence_loss",
    "tile_batch",
]
