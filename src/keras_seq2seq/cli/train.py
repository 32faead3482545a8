"""`keras-seq2seq train`: its flags are `TrainingConfig`'s fields, with their
defaults, types, ranges and help texts."""

import argparse

from keras_seq2seq import translate as pipeline
from keras_seq2seq.translate import TrainingConfig
from keras_seq2seq.translate.config import EXCLUSIVE, Choice, Flag, options


def add_parser(commands):
    parser = commands.add_parser(
        "train",
        help="train a translation model",
        description="Train a translation model on a file of sentence pairs "
        "(Tatoeba/manythings format). Rerunning the same command resumes from "
        "the last checkpoint in --out.",
    )
    parser.add_argument("--out", metavar="DIR", required=True, help="model directory")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start over instead of resuming from --out",
    )
    groups = {None: parser}
    exclusive = {}
    for field in options():
        meta = field.metadata
        group = groups.get(meta["group"])
        if group is None:
            group = groups[meta["group"]] = parser.add_argument_group(meta["group"])
        together = next((names for names in EXCLUSIVE if field.name in names), None)
        if together is not None:
            if together not in exclusive:
                exclusive[together] = group.add_mutually_exclusive_group()
            group = exclusive[together]
        group.add_argument(
            meta["flag"] or "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=field.default,
            **_argument(field),
        )
    parser.set_defaults(handler=run)


def _argument(field):
    """`add_argument`'s keywords for one `TrainingConfig` field."""
    check, meta = field.metadata["check"], field.metadata
    help = meta["help"].replace("%", "%%")
    if isinstance(check, Flag):
        return {
            "action": "store_false" if field.default else "store_true",
            "help": help,
        }
    if field.default is not None:
        help += " (default %(default)s)"
    keywords = {"help": help}
    if meta["metavar"]:
        keywords["metavar"] = meta["metavar"]
    if isinstance(check, Choice):
        keywords["choices"] = check.choices
    else:
        keywords["type"] = _parser(check)
    return keywords


def _parser(check):
    """An argparse `type`: the text as the option's type, checked by the
    configuration's own rule."""

    def parse(text):
        try:
            value = check.parse(text)
        except ValueError:
            value = text
        if not check.valid(value):
            raise argparse.ArgumentTypeError(f"expected {check.expected}, got {text!r}")
        return value

    return parse


def run(args):
    config = TrainingConfig(
        **{field.name: getattr(args, field.name) for field in options()}
    )
    pipeline.train(args.out, config, resume=not args.restart)
