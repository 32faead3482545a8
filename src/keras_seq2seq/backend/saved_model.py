"""A translator as a TensorFlow SavedModel: SentencePiece ops (tensorflow-text),
the text normalisation and the decode loop in one graph (TensorFlow backend).

`keras_seq2seq.translate.export` is the public entry point.
"""

import tensorflow as tf

try:
    import tensorflow_text as text
except ImportError as error:  # the SentencePiece ops of the graph
    raise ImportError(
        "Exporting a translator needs tensorflow-text: "
        "pip install --no-deps tensorflow-text (the version of your TensorFlow)"
    ) from error

# Python's `str.split()` whitespace, which the pipeline's normalisation
# collapses to one space.
_WHITESPACE = r"[\s\x{1c}-\x{1f}\x{85}\p{Z}]+"


def tensorflow_version():
    return tf.__version__


def save_translator(
    model,
    source_proto,
    target_proto,
    out_dir,
    *,
    beam,
    length_penalty,
    widths,
    longer_limit,
    special_ids,
):
    """Writes the SavedModel of a `Translator` with its tokenizers.

    Args:
        model: a `Translator` (on the TensorFlow backend).
        source_proto, target_proto: the serialised SentencePiece models.
        out_dir: the directory to write.
        beam, length_penalty: decoding (`beam=1`: greedy).
        widths: `{padded source width: output limit}`; sources of one width
            are padded to it and decoded together with its limit. Longer
            sources are decoded together, padded to the longest, with
            `longer_limit`.
        special_ids: `(pad_id, bos_id, eos_id)`.
    """
    module = _ServingModule(
        model,
        source_proto,
        target_proto,
        {"beam": beam, "length_penalty": length_penalty},
        dict(sorted(widths.items())),
        longer_limit,
        special_ids,
    )
    tf.saved_model.save(
        module,
        str(out_dir),
        signatures={
            "serving_default": module.translate.get_concrete_function(),
            "attention": module.attention.get_concrete_function(),
        },
    )


class _ServingModule(tf.Module):
    def __init__(
        self, model, source_proto, target_proto, decoding, widths, longer, special
    ):
        super().__init__()
        self.model = model
        self.weights = [v.value for v in model.weights]
        # Distinct names: a loaded SavedModel keys each SentencePiece model
        # resource by its op's name, and would give both sides one.
        self.source = text.SentencepieceTokenizer(source_proto, name="source_tokenizer")
        self.target = text.SentencepieceTokenizer(target_proto, name="target_tokenizer")
        self.decoding, self.widths, self.longer = decoding, widths, longer
        self.pad_id, self.bos_id, self.eos_id = special
        spec = tf.TensorSpec([None], tf.string, name="sentences")
        self.translate = tf.function(self._translate, input_signature=[spec])
        self.attention = tf.function(self._attention, input_signature=[spec])

    def _encode(self, sentences):
        normalized = text.normalize_utf8(sentences, "NFKC")
        normalized = tf.strings.regex_replace(normalized, _WHITESPACE, " ")
        ids = tf.cast(self.source.tokenize(tf.strings.strip(normalized)), tf.int32)
        return ids, ids.row_lengths()

    def _decode(self, ids, lengths):
        """Decodes the sentences of each padded width together, with that
        width's output limit, as `translate` batches them."""
        widths = tf.constant(list(self.widths), tf.int64)
        bucket = tf.reduce_sum(
            tf.cast(lengths[:, None] > widths[None, :], tf.int32), axis=1
        )
        limits = [*self.widths.items(), (None, self.longer)]
        parts, rows = [], []
        for index, (width, limit) in enumerate(limits):
            picked = tf.cast(tf.where(tf.equal(bucket, index))[:, 0], tf.int32)
            run = self._decoder(tf.gather(ids, picked), width, limit)
            parts.append(tf.cond(tf.size(picked) > 0, run, _no_rows))
            rows.append(picked)
        steps = tf.reduce_max([tf.shape(part[2])[1] for part in parts])
        width = tf.reduce_max([tf.shape(part[3])[2] for part in parts])
        order = tf.argsort(tf.concat(rows, 0))

        def merge(column, pad):
            return tf.gather(tf.concat([pad(part[column]) for part in parts], 0), order)

        def pad_steps(tokens):
            return tf.pad(tokens, [[0, 0], [0, steps - tf.shape(tokens)[1]]])

        def pad_steps_and_width(weights):
            shape = tf.shape(weights)
            return tf.pad(
                weights, [[0, 0], [0, steps - shape[1]], [0, width - shape[2]]]
            )

        return (
            merge(0, tf.identity),
            merge(1, tf.identity),
            merge(2, pad_steps),
            merge(3, pad_steps_and_width),
        )

    def _decoder(self, ids, width, limit):
        def run():
            shape = None if width is None else [None, width]
            source = ids.to_tensor(default_value=self.pad_id, shape=shape)
            if self.decoding["beam"] == 1:
                out = self.model.greedy(source, limit, self.bos_id, self.eos_id)
            else:
                out = self.model.beam(
                    source,
                    self.decoding["beam"],
                    limit,
                    self.bos_id,
                    self.eos_id,
                    length_penalty=self.decoding["length_penalty"],
                )
            attention = tf.cast(out.attention, tf.float32)
            return (
                tf.cast(out.lengths, tf.int32),
                tf.cast(out.scores, tf.float32),
                tf.cast(out.tokens, tf.int32),
                attention[:, :, : tf.reduce_max(ids.row_lengths())],
            )

        return run

    def _outputs(self, sentences):
        ids, lengths = self._encode(sentences)
        out_lengths, scores, tokens, attention = self._decode(ids, lengths)
        empty = tf.equal(lengths, 0)
        out_lengths = tf.where(empty, 0, out_lengths)
        tokens = tf.RaggedTensor.from_tensor(tokens, lengths=out_lengths)
        return ids, tokens, tf.where(empty, 0.0, scores), attention

    def _translate(self, sentences):
        _, tokens, scores, _ = self._outputs(sentences)
        special = (
            (tokens == self.eos_id) | (tokens == self.pad_id) | (tokens == self.bos_id)
        )
        texts = self.target.detokenize(tf.ragged.boolean_mask(tokens, ~special))
        texts = tf.strings.strip(tf.strings.regex_replace(texts, _WHITESPACE, " "))
        return {"translations": texts, "scores": scores}

    def _attention(self, sentences):
        ids, tokens, _, attention = self._outputs(sentences)
        source_pieces = self.source.id_to_string(ids).to_tensor("")
        target_pieces = self.target.id_to_string(tokens).to_tensor("")
        steps, width = tf.shape(target_pieces)[1], tf.shape(source_pieces)[1]
        return {
            "source_pieces": source_pieces,
            "target_pieces": target_pieces,
            "weights": attention[:, :steps, :width],
        }


def _no_rows():
    return (
        tf.zeros([0], tf.int32),
        tf.zeros([0], tf.float32),
        tf.zeros([0, 0], tf.int32),
        tf.zeros([0, 0, 0], tf.float32),
    )
