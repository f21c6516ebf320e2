"""The `keras-transformer` command line. The backend comes from KERAS_BACKEND."""

import argparse
import os
import sys


def _demo(args):
    from keras_transformer.demo import run_demo

    run_demo(epochs=args.epochs, seed=args.seed)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-transformer",
        description="The Transformer of 'Attention Is All You Need' in Keras 3. "
        "Pick the backend with KERAS_BACKEND=tensorflow|jax|torch.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train a small model to reverse digit strings (about a minute)"
    )
    demo.add_argument("--epochs", type=int, default=8, help="training epochs")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
