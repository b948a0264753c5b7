"""A small byte-level BPE tokenizer the project builds itself, offline, for genai-bench and the simulator.

genai-bench needs ``--model-tokenizer <folder>`` that ``transformers.AutoTokenizer`` can load, and
uses it to cut prompts to exact token counts; the simulator counts prompt tokens with the same
``tokenizer.json``. Nothing is downloaded: the training text is genai-bench's bundled
``sonnet.txt`` (found without importing genai_bench, which gevent-monkeypatches on import) plus
docstrings of a few standard-library modules. Files are written with the ``tokenizers`` library
directly, so building does not import transformers.

>>> folder = ensure_tokenizer(default_tokenizer_dir())  # doctest: +SKIP
>>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
['autotuner-tokenizer.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

VERSION = 1
VOCAB_SIZE = 4096
SPECIAL = "<|endoftext|>"
MARKER = "autotuner-tokenizer.json"
FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def default_tokenizer_dir() -> Path:
    """Where the built-in tokenizer lives: ``$AUTOTUNER_CACHE_DIR`` or ``~/.cache/autotuner``."""
    root = os.environ.get("AUTOTUNER_CACHE_DIR") or Path.home() / ".cache" / "autotuner"
    return Path(root) / f"tokenizer-v{VERSION}"


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*FILES, MARKER))


def _sonnet_path() -> Path | None:
    """genai-bench's bundled prompt corpus, located without importing genai_bench."""
    try:
        spec = importlib.util.find_spec("genai_bench")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / "data" / "sonnet.txt"
        if path.is_file():
            return path
    return None


def corpus_lines() -> list[str]:
    """Training text: sonnet.txt (what genai-bench builds prompts from) + stdlib docstrings."""
    lines: list[str] = []
    sonnet = _sonnet_path()
    if sonnet is not None:
        text = sonnet.read_text(encoding="utf-8")
        lines += [line.strip() for line in text.splitlines() if line.strip()] * 4  # weight it up
    import argparse
    import collections
    import json as json_mod
    import logging
    import random
    import string
    import textwrap

    for mod in (argparse, collections, json_mod, logging, random, string, textwrap, inspect):
        for _, obj in inspect.getmembers(mod):
            doc = inspect.getdoc(obj)
            if doc:
                lines += [line for line in doc.splitlines() if line.strip()]
    return lines


def _write_files(folder: Path, vocab_size: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.save(str(folder / "tokenizer.json"))
    special = {"bos_token": SPECIAL, "eos_token": SPECIAL, "unk_token": SPECIAL, "pad_token": SPECIAL}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {str(tok.token_to_id(SPECIAL)): {
            "content": SPECIAL, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    (folder / MARKER).write_text(json.dumps({"version": VERSION, "vocab_size": tok.get_vocab_size(),
                                             "built_by": "autotuner.sim.tokenizer"}, indent=2))


def ensure_tokenizer(folder: str | Path | None = None, vocab_size: int = VOCAB_SIZE) -> Path:
    """Build the tokenizer folder once and return it; a no-op when it is already complete.

    Safe when several processes race: each builds in its own temporary folder next to the
    target and renames it into place; the loser discards its copy.
    """
    target = Path(folder) if folder is not None else default_tokenizer_dir()
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the folder is shared with genai-bench processes
    try:
        _write_files(tmp, vocab_size)
        try:
            os.rename(tmp, target)  # atomic; fails if target exists (non-empty) already
        except OSError:
            if is_complete(target):
                return target  # another process won the race
            # An existing, incomplete folder (e.g. created empty by the caller): move files in
            # one by one, marker last, so a reader never sees the marker before the files.
            target.mkdir(parents=True, exist_ok=True)
            for name in (*FILES, MARKER):
                os.replace(tmp / name, target / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = ["corpus_lines", "default_tokenizer_dir", "ensure_tokenizer", "is_complete"]
