"""Provenance page: upload an image → its Content Credentials, validation state, assertions, ingredient chain."""

from __future__ import annotations

from pathlib import Path

import app_display
import streamlit as st

from audit.errors import AuditError
from audit.provenance.ca import DEFAULT_CA_DIR
from audit.provenance.verify import INVALID, NO_MANIFEST, TRUSTED, VALID, trust_options, verify_bytes

STATE_STYLE = {TRUSTED: st.success, VALID: st.info, INVALID: st.error, NO_MANIFEST: st.warning}

st.title("Provenance (C2PA Content Credentials)")
st.caption("Checks the signature, whether the image changed after signing, who signed it and what genaudit "
           "recorded: generator, prompt and seed, memorisation verdict, training-mining permission.")

with st.expander("Trust settings", expanded=False):
    trust_path = st.text_input(
        "Trusted root certificate (PEM) or CA directory",
        value=str(DEFAULT_CA_DIR) if DEFAULT_CA_DIR.is_dir() else "",
        key="prov_trust",
        help="Signers chaining to this root are 'Trusted'; others with an intact signature are 'Valid'.",
    )

upload = st.file_uploader("Upload an image", type=["png", "jpg", "jpeg", "webp"], key="prov_upload")
local = st.text_input("…or a path to an image on this machine", key="prov_path")

data: bytes | None = None
name = ""
if upload is not None:
    data, name = upload.getvalue(), upload.name
elif local.strip():
    p = Path(local.strip()).expanduser()
    if not p.is_file():
        st.error(f"{p}: file not found")
        st.stop()
    data, name = p.read_bytes(), str(p)
if data is None:
    st.caption("Upload a PNG, JPEG or WebP image signed by `audit provenance stamp` (or by any C2PA tool).")
    st.stop()

kwargs = trust_options(trust_path)
try:
    with st.spinner("Verifying…"):
        result = verify_bytes(data, name, **kwargs)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()

left, right = st.columns([1, 2])
with left:
    st.image(data, caption=Path(name).name, width=256)
with right:
    STATE_STYLE.get(result.state, st.info)(f"**{result.state}**")
    for reason in result.reasons:
        st.markdown(f"- {reason}")
    st.caption(f"trust anchors: {result.trust}")
    if result.signer:
        st.markdown(f"**Signer:** {result.signer.get('common_name', '?')} · issuer {result.signer.get('issuer', '?')}"
                    f" · {result.signer.get('alg', '')}")

if result.state == NO_MANIFEST:
    # Durable stamping kept a signed copy: look it up by watermark id or perceptual fingerprint.
    from audit.provenance.store import DEFAULT_STORE_DIR

    store_dir = st.text_input("Manifest store to search (stamped with --durable)", key="prov_store",
                              value=str(DEFAULT_STORE_DIR) if DEFAULT_STORE_DIR.is_dir() else "")
    if store_dir.strip() and st.button("Recover the original manifest", key="prov_recover"):
        from audit.provenance.recover import recover_bytes

        try:
            rec = recover_bytes(data, Path(name).name, [Path(store_dir.strip()).expanduser()], **kwargs)
        except AuditError as exc:
            st.error(app_display.format_error(exc))
            st.stop()
        if rec.recovered:
            (st.success if rec.ok else st.error)(
                f"**Recovered by {rec.method}** (id {rec.wm_id}, confidence {rec.confidence}): "
                f"stored manifest is **{rec.state}**")
        else:
            st.warning("Nothing recovered from the store.")
        for reason in rec.reasons:
            st.markdown(f"- {reason}")
        if rec.manifest:
            st.json(rec.manifest, expanded=False)
    st.stop()

if result.audit:
    st.subheader("genaudit audit assertion")
    audit = result.audit
    mem = audit.get("memorisation") or {}
    gen = audit.get("generator") or {}
    c1, c2, c3 = st.columns(3)
    c1.metric("Memorisation verdict", mem.get("verdict", "not checked"))
    c2.metric("Generator", gen.get("name", "unknown"))
    c3.metric("Prompt recorded", "yes" if audit.get("prompt_recorded") else "no")
    st.json(audit, expanded=False)
if result.training_mining:
    st.subheader("Training and data mining")
    entries = result.training_mining.get("entries", {})
    st.table([{"use": k, "permission": v.get("use"), "constraint": v.get("constraint_info", "")}
              for k, v in entries.items()])

st.subheader("History (newest first)")
for i, step in enumerate(result.history):
    signer = (step.get("signer") or {}).get("common_name", "?")
    with st.expander(f"{i + 1}. {', '.join(a.get('action', '?') for a in step['actions']) or 'no actions'}"
                     f" — signed by {signer}", expanded=i == 0):
        st.json(step["actions"], expanded=True)
        st.caption(step["manifest"])

if result.ingredients:
    st.subheader("Ingredients")
    st.table([{k: v for k, v in ing.items() if k != "active_manifest"} for ing in result.ingredients])
if result.codes:
    st.caption("c2pa failure codes: " + ", ".join(result.codes))
