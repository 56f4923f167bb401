"""Checks run inside the page: what a person on that screen would notice."""
from __future__ import annotations

from pathlib import Path

# Contrast of every visible text against the first opaque background behind it (WCAG formula);
# page.evaluate(CONTRAST_FAILURES, "#some *") checks only the elements a selector picks.
CONTRAST_FAILURES = """
(selector) => {
  function rgb(s) { const m = s.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; }
  function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }
  function background(el) {
    for (let n = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length < 4 || c[3] > 0.99) { return c; }
    }
    return [255, 255, 255];
  }
  const failures = [];
  for (const el of document.querySelectorAll(selector || "body *")) {
    if (el.closest("video, [hidden]") || el.disabled) { continue; }
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0) { continue; }
    const fg = rgb(getComputedStyle(el).color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) { failures.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)}`); }
  }
  return failures;
}
"""

# Buttons, links and inputs a finger must hit: at least 44 x 44 CSS pixels.
SMALL_TARGETS = """
() => Array.from(document.querySelectorAll("button, a, input, select"))
  .filter(el => !el.closest("[hidden]") && el.getClientRects().length && !el.classList.contains("visually-hidden"))
  .map(el => [el, el.getBoundingClientRect()])
  .filter(([el, r]) => r.height < 44 || r.width < 44)
  .map(([el, r]) => `${el.tagName}#${el.id}.${el.className} "${(el.textContent || el.value || "").trim().slice(0, 12)}" ${Math.round(r.width)}x${Math.round(r.height)}`)
"""


def screenshot(page, name: str) -> Path:
    """Saved where a person can look at it (the test-run folder), and returned for checks."""
    folder = Path(__file__).resolve().parents[2] / "var" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def box_colour_share(image_path: Path, box: dict, colour: tuple[int, int, int], tolerance: int = 60) -> float:
    """Share of the pixels inside ``box`` (a Playwright bounding box) close to ``colour``."""
    from PIL import Image

    with Image.open(image_path) as image:
        region = image.convert("RGB").crop((int(box["x"]), int(box["y"]),
                                            int(box["x"] + box["width"]), int(box["y"] + box["height"])))
        pixels = list(region.getdata())
    close = sum(1 for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, colour)))
    return close / max(1, len(pixels))


def cut_off_first_request(page, url_pattern: str) -> list[str]:
    """Abort the page's first request matching ``url_pattern`` as a reload does (net::ERR_ABORTED), let
    the later ones through; the list returned gets the URL cut off."""
    cut: list[str] = []

    def cut_off_once(route):
        if not cut:
            cut.append(route.request.url)
            route.abort("aborted")
        else:
            route.continue_()

    page.route(url_pattern, cut_off_once)
    return cut
