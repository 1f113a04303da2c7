"""Locate's index cache: reused while the index is unchanged, denylist re-read at once, reopened after a rebuild,
consistent across threads (real faiss index, real tiny CLIP, real photos: the shared tiny index)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from audit.index import add_to_denylist, build_index, layout
from audit.index.cache import cached_index, clear_index_cache
from audit.removal import find_hits

MODEL = "genaudit-tiny-clip@random:0"


def test_cached_index_reuse_denylist_rebuild_threads(tiny_index_copy, tmp_path):
    import skimage.data as sd

    idx = tiny_index_copy
    photo = tmp_path / "sent.jpg"
    Image.fromarray(sd.astronaut()).resize((256, 256)).save(photo, quality=80)
    clear_index_cache()

    first = cached_index(idx)
    assert cached_index(idx) is first and first._embedder is not None  # model loaded once, with the index
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: sorted({h.key for h in find_hits(idx, photo=photo)}), range(8)))
    assert results == [["astronaut"]] * 8 and cached_index(idx) is first

    add_to_denylist(idx, ["astronaut"], reason="test")  # what erase does first: hidden at the next locate
    assert find_hits(idx, photo=photo) == [] and cached_index(idx) is first

    build_index(layout.dataset_dir(idx), idx, model=MODEL, overwrite=True)  # a rebuild replaces the files: reopen
    again = cached_index(idx)
    assert again is not first and again.denied_keys == frozenset({"astronaut"})
    clear_index_cache()
    assert cached_index(idx) is not again
