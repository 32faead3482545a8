"""`python -m keras_seq2seq.cli`: the `keras-seq2seq` command."""

import sys

from keras_seq2seq.cli import main

sys.exit(main())
