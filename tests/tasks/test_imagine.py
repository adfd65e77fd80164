"""Text to image on a tiny random Stable Diffusion pipeline (UNet + VAE + CLIP, built locally)."""

import json

import numpy as np
import pytest

from pretrained import runlog
from pretrained.errors import InvalidOptionError, OutputError, PickleRefusedError
from pretrained.media import png_metadata
from pretrained.tasks.imagine import ImagineOptions, imagine
from tests.helpers import assert_one_line_error


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_image_of_requested_size_reproducible_with_seed(tiny_diffusion_dir, tmp_path):
    options = ImagineOptions(steps=2, width=64, height=48, seed=7)
    first = imagine("a pygmy hippo", str(tiny_diffusion_dir), options, out=tmp_path / "a.png")
    again = imagine("a pygmy hippo", str(tiny_diffusion_dir), options, out=tmp_path / "b.png")
    other = imagine(
        "a pygmy hippo",
        str(tiny_diffusion_dir),
        ImagineOptions(steps=2, width=64, height=48, seed=8),
        out=tmp_path / "c.png",
    )
    a, b, c = (_pixels(tmp_path / n) for n in ("a.png", "b.png", "c.png"))
    assert a.shape == (48, 64, 3)
    assert first.images[0].width == 64 and first.images[0].height == 48
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std() > 0  # not a blank image
    assert again.options["seed"] == 7 and other.images[0].seed == 8


def test_png_metadata_and_run_log(tiny_diffusion_dir, tmp_path):
    with runlog.track("imagine"):
        result = imagine(
            "a watercolor hippo",
            str(tiny_diffusion_dir),
            ImagineOptions(steps=1, width=32, height=32, seed=3, negative="blurry", guidance=2.0),
            out=tmp_path / "h.png",
        )
    meta = png_metadata(tmp_path / "h.png")
    assert meta["prompt"] == "a watercolor hippo" and meta["seed"] == "3"
    assert meta["negative_prompt"] == "blurry" and meta["steps"] == "1"
    assert meta["model"] == str(tiny_diffusion_dir)  # local: no revision
    assert "Seed: 3" in meta["parameters"] and "Size: 32x32" in meta["parameters"]
    row = runlog.recent(1)[0]
    assert row["task"] == "text-to-image" and row["model"] == str(tiny_diffusion_dir)
    assert row["params"]["seed"] == 3 and row["extra"]["outputs"] == [str(tmp_path / "h.png")]
    assert result.to_dict()["images"][0]["path"] == str(tmp_path / "h.png")


def test_several_images_numbered_with_consecutive_seeds(tiny_diffusion_dir, tmp_path):
    steps_seen = []
    result = imagine(
        "hippo",
        str(tiny_diffusion_dir),
        ImagineOptions(steps=3, width=32, height=32, seed=10, num_images=2),
        out=tmp_path / "x.png",
        on_step=lambda step, total, elapsed: steps_seen.append((step, total)),
    )
    assert [i.seed for i in result.images] == [10, 11]
    assert [i.path for i in result.images] == [str(tmp_path / "x-1.png"), str(tmp_path / "x-2.png")]
    assert steps_seen == [(1, 3), (2, 3), (3, 3)]
    single = _pixels(
        imagine(
            "hippo",
            str(tiny_diffusion_dir),
            ImagineOptions(steps=3, width=32, height=32, seed=11),
            out=tmp_path / "y.png",
        )
        .images[0]
        .path
    )
    assert np.array_equal(single, _pixels(tmp_path / "x-2.png"))  # seed 11 alone = 2nd of batch


def test_defaults_come_from_the_pipeline(tiny_diffusion_dir):
    result = imagine("hippo", str(tiny_diffusion_dir), ImagineOptions(steps=1, seed=1))
    # tiny UNet sample_size 16 × VAE scale factor 2
    assert (result.images[0].width, result.images[0].height) == (32, 32)
    assert result.options["guidance"] == 7.5 and result.images[0].path is None


@pytest.mark.parametrize(
    "options, flag",
    [
        (dict(width=65), "--width"),
        (dict(height=12), "--height"),
        (dict(width=0), "--width"),
        (dict(steps=-1), "--steps"),
        (dict(steps=0), "--steps"),
        (dict(guidance=-1.0), "--guidance"),
        (dict(num_images=0), "--num-images"),
        (dict(seed=-5), "--seed"),
    ],
)
def test_bad_knobs(options, flag):
    with pytest.raises(InvalidOptionError, match=flag):
        ImagineOptions(**options).validate()


def test_bad_output_extension_fails_before_loading(tmp_path):
    with pytest.raises(InvalidOptionError, match="cannot write image"):
        imagine("hippo", "/nonexistent/model", out=tmp_path / "x.gif")
    with pytest.raises(OutputError):
        imagine("hippo", "/nonexistent/model", out=tmp_path / "missing" / "x.png")


def test_pickle_only_pipeline_is_refused(tiny_diffusion_dir, tmp_path):
    import shutil

    copy = tmp_path / "pickled"
    shutil.copytree(tiny_diffusion_dir, copy)
    for weights in copy.rglob("*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(PickleRefusedError):
        imagine("hippo", str(copy), ImagineOptions(steps=1))


def test_cli_end_to_end(cli, tiny_diffusion_dir, tmp_path):
    out = tmp_path / "hippo.png"
    result = cli(
        "imagine",
        "a pygmy hippo",
        "--model",
        tiny_diffusion_dir,
        "--out",
        out,
        "--steps",
        "2",
        "--seed",
        "7",
        "--width",
        "48",
        "--height",
        "32",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["images"] == [{"path": str(out), "seed": 7, "width": 48, "height": 32}]
    assert data["options"]["steps"] == 2 and data["device"] == "cpu" and data["dtype"] == "float32"
    assert json.loads(json.dumps(data))  # JSON-safe
    plain = cli(
        "imagine",
        "a pygmy hippo",
        "-m",
        tiny_diffusion_dir,
        "-o",
        tmp_path / "p.png",
        "--steps",
        "2",
        "--seed",
        "7",
        "--width",
        "48",
        "--height",
        "32",
    )
    assert plain.exit_code == 0 and "p.png  48x32  seed=7" in plain.stdout
    assert "warning: running on CPU in float32" in plain.stderr
    assert np.array_equal(_pixels(out), _pixels(tmp_path / "p.png"))


@pytest.mark.parametrize(
    "args, code, contains",
    [
        (["--width", "100"], 2, "multiple of 8"),
        (["--height", "7"], 2, "multiple of 8"),
        (["--steps", "-3"], 2, "--steps"),
        (["--num-images", "0"], 2, "--num-images"),
        (["--out", "x.bmp"], 2, "cannot write image"),
        (["--model", "./no/such/pipeline"], 1, "no model at"),
        (["--quantize", "4bit", "--model", "MODEL"], 1, "needs a CUDA GPU"),
        (["--device", "cuda", "--model", "MODEL"], 1, "no CUDA GPU"),
    ],
)
def test_cli_bad_inputs(cli, tiny_diffusion_dir, tmp_path, args, code, contains):
    args = [str(tiny_diffusion_dir) if a == "MODEL" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "x.png")]
    assert_one_line_error(cli("imagine", "hippo", *args), code, contains)


def test_cli_empty_prompt(cli, tmp_path):
    assert_one_line_error(cli("imagine", "  ", "--out", tmp_path / "x.png"), 1, "empty")


def test_text_model_is_not_a_diffusion_pipeline(cli, tiny_gpt2_dir, tmp_path):
    result = cli("imagine", "hippo", "--model", tiny_gpt2_dir, "--out", tmp_path / "x.png")
    assert_one_line_error(result, 1, "not a diffusers pipeline")


def test_hub_pipeline_same_path_skips_root_checkpoints_and_variants(
    fake_hub, tiny_diffusion_dir, tmp_path
):
    repo = fake_hub.add_folder("org/tiny-sd", tiny_diffusion_dir)
    # what real repos also carry: a multi-GB single-file checkpoint and fp16 variants
    repo.files["sd_turbo.safetensors"] = b"not needed"
    repo.files["unet/diffusion_pytorch_model.fp16.safetensors"] = b"not needed on CPU"
    options = ImagineOptions(steps=2, width=32, height=32, seed=5)
    hub_result = imagine("hippo", "org/tiny-sd", options, out=tmp_path / "hub.png")
    imagine("hippo", str(tiny_diffusion_dir), options, out=tmp_path / "local.png")
    assert np.array_equal(_pixels(tmp_path / "hub.png"), _pixels(tmp_path / "local.png"))
    assert hub_result.revision == repo.sha and hub_result.model == "org/tiny-sd"
    assert png_metadata(tmp_path / "hub.png")["model"] == f"org/tiny-sd@{repo.sha}"
    fetched = {
        p.split("/resolve/")[1].split("/", 1)[1] for _, p in fake_hub.requests if "/resolve/" in p
    }
    assert "unet/diffusion_pytorch_model.safetensors" in fetched
    assert "sd_turbo.safetensors" not in fetched
    assert "unet/diffusion_pytorch_model.fp16.safetensors" not in fetched


def test_weight_variant_names():
    from pretrained.models.hub import weight_variant

    assert weight_variant("unet/diffusion_pytorch_model.fp16.safetensors") == "fp16"
    assert weight_variant("unet/diffusion_pytorch_model.safetensors") is None
    assert weight_variant("text_encoder/model.fp16-00001-of-00002.safetensors") == "fp16"
    assert weight_variant("text_encoder/model-00001-of-00002.safetensors") is None
    assert weight_variant("vae/diffusion_pytorch_model.bin") is None


def test_long_prompt_is_reported_as_truncated(tiny_diffusion_dir):
    result = imagine(
        "a very long prompt about a pygmy hippo", str(tiny_diffusion_dir), ImagineOptions(steps=1)
    )
    assert result.warnings and "reads only the first 16" in result.warnings[0]
    assert not imagine("hippo", str(tiny_diffusion_dir), ImagineOptions(steps=1)).warnings
