"""audit.embed.load_embedder: names, determinism, shapes, normalisation, checkpoints, offline hub names."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from audit.embed import load_embedder  # noqa: E402
from audit.errors import ModelError  # noqa: E402

RANDOM = "genaudit-tiny-clip@random:0"


def _images(n: int) -> list[Image.Image]:
    out = []
    for i in range(n):
        img = Image.new("RGB", (80 + i, 60), (255, 255, 255))
        d = ImageDraw.Draw(img)
        d.ellipse((5 + 3 * i, 5, 40 + 3 * i, 50), fill=((40 * i) % 256, 100, 200 - 10 * i))
        out.append(img)
    return out


@pytest.fixture(scope="module")
def emb():
    return load_embedder(RANDOM)


def test_import_is_light():
    code = "import sys, audit.embed, audit.embed.cli; print('torch' in sys.modules, 'open_clip' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_random_is_deterministic_and_seed_dependent(emb):
    again = load_embedder(RANDOM)
    other = load_embedder("genaudit-tiny-clip@random:1")
    texts = ["a red circle on a white background", "two blue squares"]
    a, b, c = emb.embed_texts(texts), again.embed_texts(texts), other.embed_texts(texts)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert emb.weights_sha256 == again.weights_sha256 != other.weights_sha256
    assert emb.name == RANDOM


def test_shapes_and_normalisation(emb):
    assert (emb.dim, emb.image_size, emb.context_length, emb.text_width) == (128, 64, 32, 64)
    img = emb.embed_images(_images(5), batch_size=2, progress=False)
    txt = emb.embed_texts(["x", "y", "z"])
    for arr, n in ((img, 5), (txt, 3)):
        assert arr.shape == (n, 128) and arr.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    tokens = emb.encode_text_tokens(["a red circle", "b"])
    assert tuple(tokens.shape) == (2, 32, 64) and tokens.dtype == torch.float32
    assert not torch.allclose(tokens[0], tokens[1])


def test_batching_and_paths_agree(emb, tmp_path):
    imgs = _images(11)
    paths = []
    for i, im in enumerate(imgs):
        p = tmp_path / f"{i}.png"
        im.save(p)
        paths.append(p)
    one = emb.embed_images(imgs, batch_size=11, progress=False)
    small = emb.embed_images(paths, batch_size=3, progress=False)
    singles = np.concatenate([emb.embed_images([im], progress=False) for im in imgs[:3]])
    np.testing.assert_allclose(one, small, atol=1e-5)
    np.testing.assert_allclose(one[:3], singles, atol=1e-5)
    texts = [f"caption number {i}" for i in range(7)]
    np.testing.assert_allclose(emb.embed_texts(texts), np.concatenate([emb.embed_texts([t]) for t in texts]), atol=1e-5)


def test_unreadable_image_path_names_the_file(emb, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    from audit.errors import ImageError

    with pytest.raises(ImageError, match="broken.png"):
        emb.embed_images([bad], progress=False)


def test_fp16_checkpoint_round_trip(emb, tmp_path):
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in emb.model.state_dict().items()}
    torch.save(state, tmp_path / "model.pt")
    (tmp_path / "meta.json").write_text(json.dumps({"kind": "embedder", "model_config": "genaudit-tiny-clip"}))
    by_dir = load_embedder(str(tmp_path))
    by_file = load_embedder(str(tmp_path / "model.pt"))
    assert next(by_dir.model.parameters()).dtype == torch.float32
    assert by_dir.weights_sha256 == by_file.weights_sha256 and len(by_dir.weights_sha256) == 64
    texts = ["a green triangle", "a photo of a tree"]
    np.testing.assert_allclose(by_dir.embed_texts(texts), emb.embed_texts(texts), atol=2e-2)
    np.testing.assert_allclose(by_dir.embed_texts(texts), by_file.embed_texts(texts), atol=0)


def test_corrupt_checkpoint_is_model_error(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="model.pt"):
        load_embedder(str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        load_embedder(str(tmp_path / "nope" / "model.pt"))


def test_hub_name_offline_fails_fast():
    start = time.monotonic()
    with pytest.raises(ModelError, match="offline"):
        load_embedder("ViT-B-32:laion2b_s34b_b79k")
    assert time.monotonic() - start < 5
    with pytest.raises(ModelError, match="not a pretrained tag"):
        load_embedder("ViT-B-32:no_such_tag")
    with pytest.raises(ModelError, match="unknown model architecture"):
        load_embedder("No-Such-Arch")


def test_cli_reports_offline_hub_as_one_line(capsys):
    from audit.cli import main

    code = main(["embed", "info", "--model", "ViT-B-32:laion2b_s34b_b79k"])
    err = capsys.readouterr().err
    assert code == 2 and "offline" in err and "Traceback" not in err
