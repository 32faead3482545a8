"""The Keras mask a tensor carries, on every backend."""

try:  # Keras' lookup also finds masks of JAX arrays, which cannot hold attributes.
    from keras.src.backend import get_keras_mask
except ImportError:  # pragma: no cover - a Keras without this private helper

    def get_keras_mask(x):
        """The mask Keras attached to `x`, or None."""
        return getattr(x, "_keras_mask", None)
