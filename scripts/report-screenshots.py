"""Look at the report as a reader does: open reports/report.html in a real headless Chromium, click
every category of the sidebar, open each of its results, and save one screenshot per view.

Needs playwright (``pip install -e ".[screenshots]"``; outside the study's dependencies) and a
Chromium; it uses the system's (``--chromium``, default /usr/bin/chromium), so no browser is downloaded:

    python scripts/report-screenshots.py reports/report.html --out reports/screenshots

Prints one line per view (category, result, screenshot) and any JavaScript error of the page; exit
status 1 if the page raised one or a category opened no result. Results the report only offers as
downloads (the CSV tables) are listed, not shot.
"""

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

VIEWABLE = (".png", ".svg", ".jpg", ".html", ".pdf")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path)
    p.add_argument("--out", type=Path, default=Path("reports/screenshots"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args(argv)
    url, errors, bad = args.report.resolve().as_uri(), [], 0
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1300})
        page.on("pageerror", lambda e: errors.append(str(e)))

        def open_category(name):
            page.goto(url)
            page.wait_for_timeout(1200)
            page.get_by_text(name, exact=True).first.click()
            page.wait_for_timeout(600)

        page.goto(url)
        page.wait_for_timeout(1200)
        page.screenshot(path=args.out / "00_home.png")
        categories = [t.strip() for t in page.locator("a").all_inner_texts() if t.strip()[:2].rstrip(".").isdigit()]
        for i, category in enumerate(categories, start=1):
            open_category(category)
            names = page.locator("tbody tr td:first-child").all_inner_texts()
            bad += not names
            for j, name in enumerate(names):
                if not name.endswith(VIEWABLE):
                    print(f"{category} | {name} | a download (not shot)")
                    continue
                open_category(category)
                page.locator("tbody tr").nth(j).locator("a[iconname=eye]").click()
                page.wait_for_timeout(2500)
                shot = args.out / f"{i:02d}_{j}_{Path(name).stem}.png"
                page.screenshot(path=shot)
                print(f"{category} | {name} | {shot}")
        browser.close()
    for e in errors:
        print(f"page error: {e}", file=sys.stderr)
    return 1 if errors or bad else 0


if __name__ == "__main__":
    sys.exit(main())
