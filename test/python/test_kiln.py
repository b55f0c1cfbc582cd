"""import kiln against kiln-run (bit for bit) and the transformers goldens.

Run by test/python/run-pytest.sh BUILD_DIR (ctest: python), which puts
BUILD/python first on sys.path and names BUILD/bin in KILN_TEST_TOOLS_DIR.
"""
import json
import os
import subprocess
import threading

import numpy as np
import pytest

import kiln

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "test", "golden", "fixtures")
TOOLS = os.environ.get("KILN_TEST_TOOLS_DIR", "")


def golden(name):
    with open(os.path.join(FIXTURES, name, "golden.json")) as f:
        g = json.load(f)
    ids = [row[:n] for row, n in zip(g["input_ids"], g["lengths"])]
    types = [row[:n] for row, n in zip(g["token_type_ids"], g["lengths"])] \
        if "token_type_ids" in g else None
    return g, ids, types


def id_lists(ids):
    return ";".join(",".join(map(str, row)) for row in ids)


def kiln_run(*args):
    done = subprocess.run([os.path.join(TOOLS, "kiln-run"), *map(str, args)],
                          capture_output=True, text=True)
    return done


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The fixtures compiled through kiln.compile, once."""
    folder = tmp_path_factory.mktemp("artifacts")
    compiled = {}
    for name in ("gpt2_tiny", "bert_tiny", "t5_gated", "llama_gqa"):
        path = folder / f"{name}.kiln"
        report = kiln.compile(os.path.join(FIXTURES, name), path, max_batch=2,
                              max_seq=16)
        assert report["artifact_bytes"] == os.path.getsize(path)
        compiled[name] = str(path)
    return compiled


def close_to_golden(name, output, value, lengths, tolerance=1e-4):
    expected = np.load(os.path.join(FIXTURES, name, f"{output}.npy"))
    if value.ndim == 3 and expected.ndim == 3 and lengths is not None:
        for b, n in enumerate(lengths):
            got, want = value[b, :n], expected[b, :n]
            assert np.max(np.abs(got - want)) <= tolerance * max(1.0, np.max(np.abs(want)))
    else:
        assert np.max(np.abs(value - expected)) <= tolerance * max(1.0, np.max(np.abs(expected)))


@pytest.mark.parametrize("name", ["gpt2_tiny", "bert_tiny", "llama_gqa"])
def test_run_equals_kiln_run_bit_for_bit(artifacts, name, tmp_path):
    g, ids, types = golden(name)
    outputs = kiln.load(artifacts[name]).run(input_ids=ids, token_type_ids=types)
    flags = ["--token-type-ids", id_lists(types)] if types else []
    done = kiln_run(artifacts[name], "--input-ids", id_lists(ids), *flags,
                    "--output-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(outputs) == sorted(f[:-4] for f in os.listdir(tmp_path))
    for output, value in outputs.items():
        assert value.dtype == np.float32
        assert np.array_equal(value, np.load(tmp_path / f"{output}.npy")), output
        close_to_golden(name, output, value, g["lengths"])


@pytest.mark.parametrize("name", ["gpt2_tiny", "llama_gqa", "t5_gated"])
def test_generate_equals_kiln_run(artifacts, name):
    g, ids, _ = golden(name)
    model = kiln.load(artifacts[name])
    steps = g["generate"]["max_new_tokens"]
    done = kiln_run(artifacts[name], "--input-ids", id_lists(ids),
                    "--max-new-tokens", steps, "--ignore-eos")
    assert done.returncode == 0, done.stderr
    for row, printed in zip(ids, done.stdout.splitlines()):
        tokens = list(model.generate(row, steps, ignore_eos=True))
        assert tokens == [int(t) for t in printed.split(",")]
    # The same as transformers' greedy ids (the fixtures have no near-ties
    # in their first tokens).
    first = list(model.generate(ids[0], steps, ignore_eos=True))
    assert first[0] == g["generate"]["ids"][0][0]


def test_sampling_equals_kiln_run(artifacts):
    model = kiln.load(artifacts["gpt2_tiny"])
    tokens = list(model.generate([79, 13, 27], 8, ignore_eos=True, top_k=20,
                                 top_p=0.9, temperature=1.5, seed=11))
    done = kiln_run(artifacts["gpt2_tiny"], "--input-ids", "79,13,27",
                    "--max-new-tokens", 8, "--ignore-eos", "--top-k", 20,
                    "--top-p", 0.9, "--temperature", 1.5, "--seed", 11)
    assert tokens == [int(t) for t in done.stdout.strip().split(",")]


def test_outputs_are_read_only_views(artifacts):
    outputs = kiln.load(artifacts["bert_tiny"]).run(input_ids=[[1, 2, 3]])
    hidden = outputs["last_hidden_state"]
    assert hidden.shape == (1, 3, 48)
    assert not hidden.flags.writeable and not hidden.flags.owndata
    with pytest.raises(ValueError):
        hidden[0, 0, 0] = 1.0
    copy = np.array(hidden)
    copy[0, 0, 0] = 1.0  # a copy is the caller's


def test_numpy_inputs(artifacts):
    model = kiln.load(artifacts["gpt2_tiny"])
    as_list = model.run(input_ids=[[79, 13, 27]])["logits"]
    for ids in (np.array([[79, 13, 27]]), np.array([79, 13, 27], dtype=np.int32),
                [79, 13, 27]):
        assert np.array_equal(model.run(input_ids=ids)["logits"], as_list)
    with pytest.raises(kiln.KilnError, match="expected integers"):
        model.run(input_ids=np.array([[1.5, 2.0]]))


def test_errors_carry_the_runtimes_messages(artifacts, tmp_path):
    model = kiln.load(artifacts["gpt2_tiny"])
    with pytest.raises(kiln.KilnError) as e:
        model.run(input_ids=[[1, 500]])
    assert str(e.value) == "input_ids: id 500 in sequence 0 is outside the vocabulary [0, 101)"
    assert e.value.code == 3
    done = kiln_run(artifacts["gpt2_tiny"], "--input-ids", "1,500")
    assert done.stderr.strip() == "kiln-run: error: --input-ids: id 500 in sequence 0 " \
        "is outside the vocabulary [0, 101)"
    with pytest.raises(kiln.KilnError, match="exceeds the model's limit of 64"):
        list(model.generate(list(range(60)), 10))
    with pytest.raises(kiln.KilnError, match="encoders do not generate"):
        list(kiln.load(artifacts["bert_tiny"]).generate([1, 2], 2))
    with pytest.raises(kiln.KilnError, match="cannot open: No such file"):
        kiln.load(tmp_path / "missing.kiln")
    damaged = tmp_path / "damaged.kiln"
    damaged.write_bytes(open(artifacts["gpt2_tiny"], "rb").read()[:1000])
    with pytest.raises(kiln.KilnError, match="truncated"):
        kiln.load(damaged)
    with pytest.raises(kiln.KilnError, match="device must be cpu or cuda"):
        kiln.load(artifacts["gpt2_tiny"], device="tpu")
    with pytest.raises(kiln.KilnError, match="config.json"):
        kiln.compile(tmp_path / "nothing", tmp_path / "x.kiln")
    with pytest.raises(kiln.KilnError, match="max-batch"):
        kiln.compile(os.path.join(FIXTURES, "gpt2_tiny"), tmp_path / "x.kiln", max_batch=0)


def test_stopping_the_iteration_stops_generation(artifacts):
    model = kiln.load(artifacts["gpt2_tiny"])
    tokens = model.generate([79, 13, 27], 40, ignore_eos=True)
    first = [next(tokens), next(tokens)]
    tokens.close()  # the worker stops at its next step and is joined
    assert first == list(model.generate([79, 13, 27], 2, ignore_eos=True))
    assert threading.active_count() == 1


def test_threads_share_a_model(artifacts):
    model = kiln.load(artifacts["llama_gqa"], threads=1)
    prompts = [[48, 18, 49, 84, 28, 23, 62], [52, 12, 70, 90], [5, 6, 7]]
    serial = [model.run(input_ids=[p])["logits"] for p in prompts]
    failures = []

    def work(k):
        for r in range(5):
            p = (k + r) % len(prompts)
            if not np.array_equal(model.run(input_ids=[prompts[p]])["logits"], serial[p]):
                failures.append((k, r))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_text_in_text_out(tmp_path):
    folder = tmp_path / "gpt2"
    folder.mkdir()
    for f in os.listdir(os.path.join(FIXTURES, "gpt2_tiny")):
        os.symlink(os.path.join(FIXTURES, "gpt2_tiny", f), folder / f)
    os.symlink(os.path.join(ROOT, "test", "lit", "tools", "Inputs", "tiny-tokenizer.json"),
               folder / "tokenizer.json")
    kiln.compile(folder, tmp_path / "gpt2.kiln")
    model = kiln.load(tmp_path / "gpt2.kiln")
    assert model.has_tokenizer
    assert model.encode("Kiln compiles models fast!") == [2, 12, 13, 14, 15, 7, 3]
    assert model.decode([2, 19, 6, 20, 7, 3]) == "hello, world!"
    tokens = list(model.generate("Kiln compiles models fast!", 12, ignore_eos=True))
    done = kiln_run(tmp_path / "gpt2.kiln", "--prompt", "Kiln compiles models fast!",
                    "--max-new-tokens", 12, "--ignore-eos")
    assert model.decode(tokens) == done.stdout.strip()
    by_text = model.run(text="Kiln compiles models fast!")["logits"]
    by_ids = model.run(input_ids=[[2, 12, 13, 14, 15, 7, 3]])["logits"]
    assert np.array_equal(by_text, by_ids)


def test_text_pairs(tmp_path):
    # A cross-encoder's input: BERT with the 260-token WordPiece tokenizer.
    folder = tmp_path / "bert"
    subprocess.run(["python3", os.path.join(ROOT, "test", "lit", "tools", "Inputs",
                                            "widen-vocab.py"),
                    os.path.join(FIXTURES, "bert_tiny"), str(folder), "260"], check=True)
    os.symlink(os.path.join(ROOT, "test", "golden", "tokenizers", "wordpiece_uncased",
                            "tokenizer.json"), folder / "tokenizer.json")
    kiln.compile(folder, tmp_path / "bert.kiln")
    model = kiln.load(tmp_path / "bert.kiln")
    ids, types = model.encode_pair("The quick brown fox.", "It runs fast!")
    assert ids == [2, 110, 173, 206, 256, 259, 17, 3, 125, 146, 159, 199, 5, 3]
    assert types == [0] * 8 + [1] * 6
    by_text = model.run(text="The quick brown fox.", text_pair="It runs fast!")
    by_ids = model.run(input_ids=[ids], token_type_ids=[types])
    assert np.array_equal(by_text["last_hidden_state"], by_ids["last_hidden_state"])
    with pytest.raises(kiln.KilnError, match="give one per text"):
        model.run(text=["a", "b"], text_pair=["c"])


def test_interpreter_matches_transformers():
    for name in ("gpt2_tiny", "bert_tiny"):
        g, ids, types = golden(name)
        outputs = kiln.Interpreter(os.path.join(FIXTURES, name)).run(ids, types)
        for output in g["outputs"]:
            close_to_golden(name, output, outputs[output], g["lengths"])
    g, ids, _ = golden("gpt2_tiny")
    assert kiln.Interpreter(os.path.join(FIXTURES, "gpt2_tiny")).generate(
        ids, g["generate"]["max_new_tokens"], ignore_eos=True) == g["generate"]["ids"]
    with pytest.raises(kiln.KilnError, match="no config.json"):
        kiln.Interpreter(ROOT)


def test_matches_transformers_live(artifacts):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    g, ids, _ = golden("gpt2_tiny")
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.join(FIXTURES, "gpt2_tiny"), dtype=torch.float32).eval()
    model = kiln.load(artifacts["gpt2_tiny"])
    for row in ids:
        with torch.no_grad():
            want = reference(torch.tensor([row])).logits[0].numpy()
        got = model.run(input_ids=[row])["logits"][0]
        assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, np.max(np.abs(want)))
