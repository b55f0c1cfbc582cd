"""Kiln: compile Hugging Face Transformer models ahead of time, run them.

    import kiln
    report = kiln.compile("gpt2-folder", "gpt2.kiln", max_batch=4)
    model = kiln.load("gpt2.kiln")
    outputs = model.run(input_ids=[[79, 13, 27]])       # {"logits": ndarray}
    for token in model.generate("Once upon a time", max_new_tokens=20):
        ...
    reference = kiln.Interpreter("gpt2-folder").run(input_ids=[[79, 13, 27]])

The runtime is the C library of kiln/runtime.h (libkiln-runtime.so) through
the extension kiln._kiln: a loaded model serves several Python threads at
once (each request on its own executor, the GIL released while it runs).
kiln.compile and kiln.Interpreter run the kilnc and kiln-interpret
programs of the same build (kiln/bin beside this file once installed, or
KILN_TOOLS_DIR, or the PATH), so a compiler failure never takes the Python
process with it. Every error is a KilnError carrying the tools' message.
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from . import _kiln
from ._kiln import KilnError

__all__ = ["KilnError", "Model", "Interpreter", "compile", "load"]

__version__ = "0.1.0"


def _tool(name):
    """The path of one of Kiln's programs."""
    for folder in (os.environ.get("KILN_TOOLS_DIR"),
                   os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")):
        if folder:
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK):
                return path
    found = shutil.which(name)
    if found:
        return found
    raise KilnError(f"{name} not found: set KILN_TOOLS_DIR to the folder "
                    "holding Kiln's programs")


def _flags(options):
    """Keyword options as command-line flags: max_batch=4 -> --max-batch 4,
    True -> the bare flag, False/None -> nothing, a list -> a,b,c."""
    flags = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            flags += [flag, ",".join(str(v) for v in value)]
        else:
            flags += [flag, str(value)]
    return flags


def _run_tool(command):
    """Runs a Kiln program; its error lines become one KilnError."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        prefix = os.path.basename(command[0]) + ": error: "
        errors = [line[len(prefix):] for line in done.stderr.splitlines()
                  if line.startswith(prefix)]
        message = "\n".join(errors) or done.stderr.strip() or \
            f"{command[0]} exited with status {done.returncode}"
        error = KilnError(message)
        error.code = done.returncode
        raise error
    return done.stdout


def compile(model_dir, output, **options):
    """Compiles the Hugging Face folder `model_dir` into the artifact
    `output` with kilnc, the keyword options as its flags (max_batch=4,
    precision="bf16", quantize="w8a16", external_weights=True, ...), and
    returns kilnc's report (--report) as a dict."""
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "report.json")
        _run_tool([_tool("kilnc"), os.fspath(model_dir), "-o", os.fspath(output),
                   "--report", report] + _flags(options))
        with open(report) as f:
            return json.load(f)


def _sequences(ids, name):
    """ids as a list of lists of ints: a 2-D array (rows of equal length), a
    list of sequences (any lengths), or one sequence (1-D)."""
    if ids is None:
        return None
    if isinstance(ids, np.ndarray):
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise KilnError(f"{name}: expected integers of shape [batch, "
                            f"length], got {ids.dtype} {list(ids.shape)}")
        return ids.astype(np.int64).tolist()
    ids = list(ids)
    if ids and not hasattr(ids[0], "__len__"):
        ids = [ids]
    try:
        return [[int(i) for i in row] for row in ids]
    except (TypeError, ValueError) as e:
        raise KilnError(f"{name}: expected sequences of integers ({e})") from None


class Model:
    """A loaded artifact. `device`: "cpu" or "cuda"; `threads`: CPU threads
    per request (0: one per core); `weights`: the model folder of an
    artifact compiled with external_weights=True."""

    def __init__(self, path, device="cpu", threads=0, weights=None):
        self._model = _kiln.Model(os.fspath(path), device, threads,
                                  None if weights is None else os.fspath(weights))

    family = property(lambda self: self._model.family)
    vocab_size = property(lambda self: self._model.vocab_size)
    is_encoder = property(lambda self: self._model.is_encoder)
    has_tokenizer = property(lambda self: self._model.has_tokenizer)

    def encode(self, text):
        """The ids of `text`, by the tokenizer kilnc embedded."""
        return self._model.encode(text)

    def encode_pair(self, first, second):
        """The ids and type ids of a pair of texts, joined by the embedded
        tokenizer's pair template (BERT: [CLS] first [SEP] second [SEP])."""
        return self._model.encode_pair(first, second)

    def decode(self, ids):
        """The text of `ids` (special tokens skipped)."""
        return self._model.decode([int(i) for i in ids])

    def run(self, input_ids=None, token_type_ids=None, *, text=None,
            text_pair=None):
        """One pass over a batch (prefill for decoders, the encoder for
        BERT/RoBERTa, encode plus the first decode step for T5): a dict of
        float32 arrays by output name, read-only views of the result's own
        memory. `input_ids`: a 2-D integer array, a list of sequences of any
        lengths, or one sequence; or `text`: a string or a list of them,
        with `text_pair` the second text of each pair (cross-encoders)."""
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            if text_pair is not None:
                pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
                if len(pairs) != len(texts):
                    raise KilnError(f"text_pair: give one per text ({len(pairs)} "
                                    f"for {len(texts)})")
                encoded = [self.encode_pair(a, b) for a, b in zip(texts, pairs)]
                input_ids = [ids for ids, _ in encoded]
                token_type_ids = [types for _, types in encoded]
            else:
                input_ids = [self.encode(t) for t in texts]
        ids = _sequences(input_ids, "input_ids")
        if ids is None:
            raise KilnError("input_ids: no sequence given")
        outputs, _ = self._model.run(ids, _sequences(token_type_ids, "token_type_ids"),
                                     0, False, False, 0, 1.0, 1.0, 0, None)
        return outputs

    def generate(self, prompt, max_new_tokens=20, *, ignore_eos=False,
                 temperature=None, top_k=None, top_p=None, seed=0):
        """Yields the ids generated after `prompt` (a string, encoded by the
        embedded tokenizer, or a sequence of ids) one at a time, as the model
        picks them: greedy, or sampled when temperature, top_k or top_p is
        given. Stopping the iteration stops the generation."""
        ids = self.encode(prompt) if isinstance(prompt, str) else \
            _sequences(prompt, "prompt")[0]
        sample = temperature is not None or top_k is not None or top_p is not None
        tokens = queue.Queue()
        stop = threading.Event()
        finished = object()

        def on_tokens(gained):
            if gained[0] >= 0:
                tokens.put(gained[0])
            return not stop.is_set()

        def work():
            try:
                self._model.run([ids], None, max_new_tokens, ignore_eos, sample,
                                top_k or 0, 1.0 if top_p is None else top_p,
                                1.0 if temperature is None else temperature,
                                seed, on_tokens)
                tokens.put(finished)
            except KilnError as e:
                tokens.put(finished if stop.is_set() and
                           getattr(e, "code", None) == _kiln.CANCELLED else e)
            except BaseException as e:  # noqa: B036 - handed to the consumer
                tokens.put(e)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while True:
                item = tokens.get()
                if item is finished:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()


def load(path, device="cpu", threads=0, weights=None):
    """Loads the artifact at `path` (see Model)."""
    return Model(path, device=device, threads=threads, weights=weights)


def _id_lists(ids):
    return ";".join(",".join(str(i) for i in row) for row in ids)


class Interpreter:
    """The reference interpreter (kiln-interpret) on a Hugging Face folder:
    the outputs Kiln's compiled code is checked against."""

    def __init__(self, model_dir):
        self.model_dir = os.fspath(model_dir)
        if not os.path.isfile(os.path.join(self.model_dir, "config.json")):
            raise KilnError(f"{self.model_dir}: no config.json (not a Hugging "
                            "Face model folder)")

    def _call(self, input_ids, token_type_ids, max_new_tokens, ignore_eos):
        ids = _sequences(input_ids, "input_ids")
        with tempfile.TemporaryDirectory() as scratch:
            command = [_tool("kiln-interpret"), self.model_dir,
                       "--input-ids", _id_lists(ids), "--output-dir", scratch]
            if token_type_ids is not None:
                command += ["--token-type-ids",
                            _id_lists(_sequences(token_type_ids, "token_type_ids"))]
            if max_new_tokens:
                command += ["--max-new-tokens", str(max_new_tokens)]
            if ignore_eos:
                command.append("--ignore-eos")
            printed = _run_tool(command)
            outputs = {name[:-4]: np.load(os.path.join(scratch, name))
                       for name in sorted(os.listdir(scratch)) if name.endswith(".npy")}
        generated = [[int(t) for t in line.split(",") if t]
                     for line in printed.splitlines()] if max_new_tokens else []
        return outputs, generated

    def run(self, input_ids, token_type_ids=None):
        """The outputs of one pass, a dict of float32 arrays by name."""
        return self._call(input_ids, token_type_ids, 0, False)[0]

    def generate(self, input_ids, max_new_tokens, ignore_eos=False):
        """The greedily generated ids of each sequence."""
        return self._call(input_ids, None, max_new_tokens, ignore_eos)[1]
