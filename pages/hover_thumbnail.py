"""Not a page: the image under the mouse on a Plotly scatter, for the Latent map.

Plotly's hover labels take text only, and `st.plotly_chart` reports selections, not hovers. A
Streamlit v2 component (its script runs in the app's page) listens to the chart's
`plotly_hover` events, sends the hovered sample id back (debounced), and a fragment answers
with that one thumbnail as a PNG data URI, shown in a floating box beside the cursor. Only the
fragment reruns, so the chart is not redrawn; thumbnails travel one at a time, so a 70,000-point
map costs nothing extra up front.
"""
from __future__ import annotations

import base64
import io
from typing import Callable

import numpy as np
import streamlit as st
from PIL import Image

_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  const state = window.__winnowHover || (window.__winnowHover = { id: null, x: 0, y: 0, timer: null });
  state.send = setTriggerValue;  // the newest mount's sender: listeners outlive renders
  let tip = document.getElementById("winnow-hover-thumb");
  if (!tip) {
    tip = document.createElement("div");
    tip.id = "winnow-hover-thumb";
    tip.setAttribute("data-testid", "hoverThumbnail");
    tip.style.cssText = "position:fixed;z-index:100000;pointer-events:none;display:none;background:#fff;" +
      "border:1px solid #ccc;border-radius:4px;padding:4px;font:12px sans-serif;color:#222;box-shadow:0 2px 8px rgba(0,0,0,.25)";
    const img = document.createElement("img");
    img.style.cssText = "display:block;image-rendering:pixelated;width:96px;height:96px";
    tip.appendChild(img);
    tip.appendChild(document.createElement("div"));
    document.body.appendChild(tip);
  }
  if (data && data.src && data.id === state.id) {
    const img = tip.querySelector("img");
    img.src = data.src;
    img.alt = "thumbnail of #" + data.id;
    tip.querySelector("div").textContent = data.caption;  // text, never HTML: names come from users
    tip.style.left = state.x + 16 + "px";
    tip.style.top = state.y + 16 + "px";
    tip.style.display = "block";
  }
  const attach = () => {
    document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
      if (gd.__winnowHover || typeof gd.on !== "function") return;
      gd.__winnowHover = true;
      gd.setAttribute("data-winnow-hover", "on");  // lets tests (and curious users) see it is listening
      gd.addEventListener("mousemove", (e) => { state.x = e.clientX; state.y = e.clientY; });
      gd.on("plotly_hover", (ev) => {
        const p = ev.points && ev.points[0];
        if (!p || p.customdata === undefined) return;
        const cd = p.customdata;  // the sample id, or a row (array or typed array) starting with it
        const id = Number(cd !== null && typeof cd === "object" ? cd[0] : cd);
        if (!Number.isFinite(id)) return;
        state.id = id;
        clearTimeout(state.timer);
        state.timer = setTimeout(() => { if (state.id === id) state.send("hover", id); }, 120);
      });
      gd.on("plotly_unhover", () => { state.id = null; clearTimeout(state.timer); tip.style.display = "none"; });
    });
  };
  attach();
  const poll = setInterval(attach, 1000);  // the chart may be re-created by a rerun
  return () => clearInterval(poll);
}
"""

_KEY = "hover_thumbnail"


@st.cache_resource
def _component():
    return st.components.v2.component("winnow_hover_thumbnail", js=_JS)


def png_uri(image: np.ndarray, size: int = 96) -> str:
    """uint8 (H,W,C) image → a PNG data URI, upscaled without smoothing to about `size` px."""
    k = max(1, size // image.shape[0])
    big = image.repeat(k, axis=0).repeat(k, axis=1)
    buf = io.BytesIO()
    Image.fromarray(big[..., 0] if big.shape[-1] == 1 else big).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@st.fragment
def hover_thumbnails(load: Callable[[int], np.ndarray], caption: Callable[[int], str]) -> None:
    """Show the hovered point's image (its `customdata` is the sample id) beside the cursor."""
    answer = st.session_state.get(_KEY + ":answer")
    result = _component()(key=_KEY, data=answer, on_hover_change=lambda: None, height=0)
    sample = getattr(result, "hover", None) if result is not None else None
    if sample is not None:
        sid, n = int(sample), (answer or {}).get("n", 0) + 1  # n: new data even for the same sample again
        st.session_state[_KEY + ":answer"] = {"id": sid, "src": png_uri(load(sid)), "caption": caption(sid), "n": n}
        st.rerun(scope="fragment")
