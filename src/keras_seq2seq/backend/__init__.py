"""The few places where a Keras backend needs its own line."""

from keras_seq2seq.backend.scan import scan

__all__ = ["scan"]
