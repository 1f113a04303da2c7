"""Generate page: prompt → images from the reference generator with progress, then download, sign or scan them;
the model's training record beside them. UI only: audit.generate (sample_to_dir), audit.memorisation.run."""

from __future__ import annotations

from pathlib import Path

import app_common
import app_display
import streamlit as st

from audit.errors import AuditError
from audit.generate.samples_layout import is_samples_dir, sample_images
from audit.generate.store import WEIGHTS_NAME


@st.cache_resource(show_spinner="Loading generator…")
def _pipeline(path: str, mtime_ns: int):
    from audit.generate import load_pipeline

    return load_pipeline(path)


st.title("Generate with the reference model")
st.caption("A tiny text-to-image diffusion model trained in this project, so memorisation can be provoked "
           "and audited end to end. Items duplicated in its training set are listed below: prompt with "
           "their captions to see copies.")
ws = app_common.workspace()
model_dir = st.text_input("Generator model directory", value=str(ws.generator), key="gen_model")
weights = Path(model_dir) / WEIGHTS_NAME
try:
    pipe = _pipeline(model_dir, weights.stat().st_mtime_ns if weights.is_file() else 0)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()

meta = pipe.meta
training = meta.get("training", {})
with st.expander("Model record", expanded=False):
    te = meta.get("text_encoder", {})
    st.markdown(f"**{meta.get('params', 0):,}** params · **{meta.get('resolution')} px** · "
                f"**{meta.get('steps')}** training steps · text encoder `{te.get('name')}` "
                f"({'trained' if te.get('trained') else 'random init'})")
    st.markdown(f"Training command: `{training.get('train_command', '')}`")
    if training.get("duplication"):
        st.markdown("Duplicated items (key → times per epoch): " +
                    ", ".join(f"`{k}` ×{v}" for k, v in training["duplication"].items()))
    if training.get("excluded_keys"):
        st.markdown(f"Excluded (authors {', '.join(training.get('exclude_authors', []))}): "
                    f"{len(training['excluded_keys'])} items")

prompt = st.text_input("Prompt", value=st.query_params.get("prompt", "a small red circle on the left of a white background"),
                       key="gen_prompt")
c1, c2, c3, c4 = st.columns(4)
n = c1.number_input("Images", min_value=1, max_value=16, value=8, key="gen_n")
seed = c2.number_input("Seed", min_value=0, value=0, step=1, key="gen_seed")
steps = c3.slider("DDIM steps", 5, 100, 25, key="gen_steps")
guidance = c4.slider("Guidance", 0.0, 10.0, 3.0, step=0.5, key="gen_guidance")

stamp = st.checkbox("Sign the images with Content Credentials (workspace CA)", key="gen_stamp",
                    help=f"CA: {ws.ca}")
if st.button("Generate", type="primary", key="gen_go"):
    from audit.generate.sample import sample_to_dir

    out = ws.run_dir("generate", app_common.run_stamp())
    try:
        with app_common.progress_status(f"Sampling {int(n)} image(s), {int(steps)} steps each…"):
            sample_to_dir(model_dir, [prompt], out, n=int(n), seed=int(seed), steps=int(steps),
                          guidance=float(guidance), stamp=stamp, ca=ws.ca if stamp else None)
    except AuditError as exc:
        st.error(app_display.format_error(exc))
        st.stop()
    st.query_params["prompt"] = prompt
    st.session_state["gen_last"] = str(out)

last = st.session_state.get("gen_last")
if last and is_samples_dir(last):
    images = sample_images(last)
    st.caption(f"{len(images)} image(s) in `{last}`")
    cols = st.columns(4)
    for i, path in enumerate(images):
        img = app_display.thumbnail(path, 1024)
        if img is not None:
            cols[i % 4].image(app_display.at_side(img, 128), caption=path.name)
    st.download_button("Download the images (zip)", app_display.zip_folder(Path(last)), file_name=f"{Path(last).name}.zip",
                       mime="application/zip", key="gen_download")
    if st.button("Scan these for memorisation", key="gen_scan"):
        from audit.memorisation.run import scan_folder

        report = ws.run_dir("scan", app_common.run_stamp())
        try:
            with app_common.progress_status("Scanning against the generator's training set…"):
                summary = scan_folder(Path(last), ws.training_index, report)
        except AuditError as exc:
            st.error(app_display.format_error(exc))
        else:
            st.session_state["memo_report_next"] = str(report)
            st.success(f"Verdicts: {summary['counts']} — open **Memorisation review** to inspect the pairs "
                       f"(report `{report}`).")
    st.caption(f"Image i uses seed+i: `audit generate sample --generator {model_dir} --prompt \"{prompt}\" "
               f"--seed {int(seed)} --n {int(n)} --steps {int(steps)} --guidance {guidance} --out OUT` reproduces them.")
