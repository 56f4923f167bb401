"""Matplotlib set-up shared by the report and the peak model: no display, a CJK font, PNG bytes."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
from matplotlib import font_manager  # noqa: E402

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei")


def cjk_style() -> None:
    """Use the first installed CJK font, so Chinese labels are not drawn as boxes."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = [name for name in CJK_FONTS if name in installed]
    plt.rcParams["font.sans-serif"] = found + list(plt.rcParams["font.sans-serif"])
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["axes.unicode_minus"] = False


def figure(width: float = 8, height: float = 3.6):
    cjk_style()
    return plt.subplots(figsize=(width, height), dpi=100)


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
