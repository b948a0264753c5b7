"""Helpers shared by the benchmark tests (also importable outside pytest fixtures)."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import psutil

from autotuner.k8s.schema import shared_dir

HERE = Path(__file__).parent
EXAMPLE_RESULTS = shared_dir() / "genai-bench" / "example-results"  # real genai-bench 0.0.5 output
SPECIAL_TOKEN = "<|endoftext|>"


def build_tokenizer_folder(folder: Path, vocab_size: int = 1024) -> Path:
    """Train a small byte-level BPE offline and save a folder ``AutoTokenizer`` can load.

    Only needs ``tokenizers`` (no transformers import): ``tokenizer_config.json`` is written by hand.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    spec = importlib.util.find_spec("genai_bench")  # finds, does not import (no gevent patching)
    sonnet = Path(spec.submodule_search_locations[0]) / "data" / "sonnet.txt"
    corpus = [line for line in sonnet.read_text().splitlines() if line.strip()]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[SPECIAL_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
              **{f"{kind}_token": SPECIAL_TOKEN for kind in ("bos", "eos", "unk", "pad")}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line contains ``text`` (e.g. a test's own tmp folder)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(text in arg for arg in cmdline):
            found.append(proc)
    return found
