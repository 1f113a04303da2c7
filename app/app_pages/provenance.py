"""Provenance page: verify an image's Content Credentials with a plain trust status (an Invalid image shows none of
its unverified claims), recover stripped ones from the manifest store, and stamp uploads (optionally durable).
UI only: audit.provenance (verify_bytes, recover_bytes, upload.stamp_upload)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import app_common
import app_display
import streamlit as st

from audit.errors import AuditError
from audit.provenance.verify import INVALID, NO_MANIFEST, TRUSTED, VALID, VerifyResult, trust_options, verify_bytes

STATE_STYLE = {TRUSTED: st.success, VALID: st.info, INVALID: st.error, NO_MANIFEST: st.warning}


def plain_status(state: str, signer: str) -> str:
    """One sentence a publisher understands, per C2PA validation state."""
    return {
        TRUSTED: f"**Trusted** — signed by {signer}, who is on your trust list, and unchanged since signing.",
        VALID: f"**Valid, signer unknown** — the signature is intact, but {signer} is not on your trust list: "
               "the claims below are only what the signer says.",
        INVALID: "**Invalid** — the image or its credentials changed after signing, or the signature is broken. "
                 "Its claims are not shown: they cannot be trusted.",
        NO_MANIFEST: "**No Content Credentials** in this file (re-encoding or an upload may have stripped them).",
    }.get(state, f"**{state}**")


def show_claims(result: VerifyResult) -> None:
    """What the (verified) manifest says: genaudit's audit assertion, mining permissions, history, ingredients."""
    if result.audit:
        st.subheader("genaudit audit assertion")
        audit: dict[str, Any] = result.audit
        mem = audit.get("memorisation") or {}
        gen = audit.get("generator") or {}
        c1, c2, c3 = st.columns(3)
        c1.metric("Memorisation verdict", mem.get("verdict", "not checked"))
        c2.metric("Generator", gen.get("name", "unknown"))
        c3.metric("Prompt recorded", "yes" if audit.get("prompt_recorded") else "no")
        with st.expander("All recorded fields"):
            st.json(audit, expanded=False)
    if result.training_mining:
        st.subheader("Training and data mining")
        entries = result.training_mining.get("entries", {})
        st.table([{"use": k, "permission": v.get("use"), "constraint": v.get("constraint_info", "")}
                  for k, v in entries.items()])
    if result.history:
        st.subheader("History (newest first)")
        for i, step in enumerate(result.history):
            signer = (step.get("signer") or {}).get("common_name", "?")
            actions = ", ".join(a.get("action", "?") for a in step.get("actions", [])) or "no actions"
            st.markdown(f"{i + 1}. {app_display.escape_markdown(actions)} — signed by "
                        f"{app_display.escape_markdown(signer)}")
    if result.ingredients:
        st.subheader("Ingredients")
        st.table([{k: v for k, v in ing.items() if k != "active_manifest"} for ing in result.ingredients])


def show_result(result: VerifyResult) -> None:
    signer = (result.signer or {}).get("common_name", "an unknown signer")
    STATE_STYLE.get(result.state, st.info)(plain_status(result.state, signer))
    for reason in result.reasons:
        st.markdown(f"- {reason}")
    st.caption(f"trust list: {result.trust}")
    if result.codes:
        st.caption("c2pa failure codes: " + ", ".join(result.codes))
    if result.state in (TRUSTED, VALID):
        show_claims(result)


st.title("Provenance (C2PA Content Credentials)")
app_common.show_flash()
ws = app_common.workspace()
anchor = ws.trust_anchor()
with st.expander("Trust list", expanded=False):
    trust_path = st.text_input(
        "Trusted root certificate (PEM) or CA directory", value=str(anchor) if anchor else "", key="prov_trust",
        help="Signers chaining to this root are 'Trusted'; others with an intact signature are 'Valid'. "
             "Default: the workspace's CA.")
st.caption(f"Trusting: `{trust_path or 'nothing (every signer is unknown)'}`")
kwargs = trust_options(trust_path)
verify_tab, stamp_tab = st.tabs(["Verify", "Stamp"])

with stamp_tab:
    st.caption(f"Signs with the workspace CA `{ws.ca}`; signed copies go to `{ws.runs}`.")
    uploads = st.file_uploader("Images to stamp", type=["png", "jpg", "jpeg", "webp"], accept_multiple_files=True,
                               key="prov_stamp_upload")
    durable = st.checkbox("Durable: also watermark and keep the manifest in the store (survives re-encoding)",
                          key="prov_stamp_durable")
    if st.button("Stamp", key="prov_stamp_go", disabled=not uploads):
        from audit.provenance.upload import stamp_upload

        out = ws.run_dir("stamp", app_common.run_stamp())
        done = []
        try:
            with app_common.progress_status(f"Stamping {len(uploads)} image(s)…") as status:
                bar = status.progress(0.0)
                for i, up in enumerate(uploads):
                    done.append(stamp_upload(up.getvalue(), up.name, out, ca=ws.ca, durable=durable, store=ws.store))
                    bar.progress((i + 1) / len(uploads), text=f"stamped {i + 1} / {len(uploads)}")
        except AuditError as exc:
            st.error(app_display.format_error(exc))
        st.session_state["prov_stamped"] = [str(r.output) for r in done]
    for p in map(Path, st.session_state.get("prov_stamped", [])):
        if p.is_file():
            st.download_button(f"Download signed {p.name}", p.read_bytes(), file_name=p.name,
                               key=f"prov_dl_{p}")

with verify_tab:
    upload = st.file_uploader("Upload an image", type=["png", "jpg", "jpeg", "webp"], key="prov_upload")
    local = st.text_input("…or a path to an image on this machine", key="prov_path")
    data, name = None, None
    if upload is not None:
        data, name = upload.getvalue(), upload.name
    elif local.strip():
        p = Path(local.strip()).expanduser()
        if p.is_dir():
            st.error(f"{p} is a folder: give the path of one image file in it.")
            st.stop()
        if not p.is_file():
            st.error(f"{p}: file not found — check the path.")
            st.stop()
        data, name = p.read_bytes(), str(p)
    if data is None or name is None:
        st.caption("Upload a PNG, JPEG or WebP image signed by `audit provenance stamp` (or by any C2PA tool).")
        st.stop()
    try:
        with st.spinner("Verifying…"):
            result = verify_bytes(data, name, **kwargs)
    except AuditError as exc:
        st.error(app_display.format_error(exc))
        st.stop()

    left, right = st.columns([1, 2])
    with left:
        preview = app_display.thumbnail_bytes(data, 256)
        if preview is not None:
            st.image(preview, caption=Path(name).name, width=256)
        else:
            st.caption(f"{Path(name).name}: no preview (the pixels do not decode)")
    with right:
        show_result(result)

    if result.state == NO_MANIFEST:
        # Durable stamping kept a signed copy: look it up by watermark id or perceptual fingerprint.
        store_dir = st.text_input("Manifest store to search (stamped durably)", key="prov_store", value=str(ws.store))
        if store_dir.strip() and st.button("Recover the original manifest", key="prov_recover"):
            from audit.provenance.recover import recover_bytes

            try:
                with st.spinner("Reading the watermark and searching the store…"):
                    rec = recover_bytes(data, Path(name).name, [Path(store_dir.strip()).expanduser()], **kwargs)
            except AuditError as exc:
                st.error(app_display.format_error(exc))
                st.stop()
            if rec.recovered:
                (st.success if rec.ok else st.error)(
                    f"**Recovered by {rec.method}** (id {rec.wm_id}, confidence {rec.confidence}): "
                    f"the stored signed copy is **{rec.state}**")
            else:
                st.warning("Nothing recovered from the store.")
            for reason in rec.reasons:
                st.markdown(f"- {reason}")
            if rec.manifest and rec.ok:
                show_claims(VerifyResult(**rec.manifest))
                with st.expander("Recovered manifest (raw)"):
                    st.json(rec.manifest, expanded=False)
