"""Open the built documentation in headless Chromium and check that pages load and
their images are present and not broken.

    python docs/check_site.py [BUILD_DIR]      (default docs/_build/html)

For each page a copy is made next to it with a script that, once the page has loaded,
lists its images that did not decode; Chromium prints the resulting DOM. Each page is
also photographed (1280 x 1600 pixels) into BUILD_DIR/../screenshots/ (CI keeps them as
artifacts, to be looked at by eye). Exits 1 when a page fails, 77 when no Chromium is
installed (so CI can tell a skip from a failure).
"""
import json
import os
import re
import shutil
import subprocess
import sys

PAGES = ["index.html", "auto_examples/plot_lazy_twin.html", "figures.html", "theory.html",
         "api.html"]
#: pages without figures (text, equations, tables): only broken images fail them
TEXT_PAGES = {"theory.html", "api.html"}
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  const out = document.createElement('pre');
  out.id = 'site-check';
  out.textContent = JSON.stringify({title: document.title, images: imgs.length, bad: bad});
  document.body.appendChild(out);
});
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_page(browser, path):
    """(title, number of images, broken image sources) of one built page."""
    probe = path[:-5] + ".site-check.html"
    with open(path, encoding="utf-8") as fh:
        html = fh.read()
    with open(probe, "w", encoding="utf-8") as fh:
        fh.write(html.replace("</body>", PROBE + "</body>"))
    try:
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                              "--allow-file-access-from-files", "--virtual-time-budget=15000",
                              "--dump-dom", "file://" + os.path.abspath(probe)],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        os.remove(probe)
    # (the theme's script gives every <pre> attributes of its own, e.g. tabindex)
    found = re.search(r'<pre id="site-check"[^>]*>(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{path}: the page did not finish loading in Chromium")
    data = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return data["title"], data["images"], data["bad"]


def screenshot(browser, path, out):
    """A PNG of the page at ``path`` (1280 x 1600) written to ``out``; True when written."""
    try:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1280,1600",
                        "--virtual-time-budget=15000", f"--screenshot={os.path.abspath(out)}",
                        "file://" + os.path.abspath(path)],
                       capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return os.path.exists(out) and os.path.getsize(out) > 0


def main(build="docs/_build/html"):
    browser = chromium()
    if browser is None:
        print("no Chromium found: site check skipped")
        return 77
    failed = False
    for page in PAGES:
        path = os.path.join(build, page)
        if not os.path.exists(path):
            print(f"FAILED {page}: not built")
            failed = True
            continue
        title, n, bad = check_page(browser, path)
        ok = (n > 0 or page in TEXT_PAGES) and not bad
        failed |= not ok
        print(f"{'ok    ' if ok else 'FAILED'} {page}: '{title}', {n} images"
              + (f", broken: {bad}" if bad else ""))
        shots = os.path.join(os.path.dirname(os.path.abspath(build)), "screenshots")
        os.makedirs(shots, exist_ok=True)
        png = os.path.join(shots, page.replace("/", "_").replace(".html", ".png"))
        if screenshot(browser, path, png):
            print(f"       screenshot {png}")
        else:
            print(f"       (no screenshot of {page})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
