"""Screenshots of the admin against a running server: the fleet dashboard (the admin's index), a device's page and
the group tree, as PNGs (docs/screenshots/ by default). Playwright drives Debian's chromium (/usr/bin/chromium), as
the browser tests do; the server is any running devmanager (`manage.py runserver`, scripts/serve), e.g.:

    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8765 --username shots --password ...

The user must be staff with the right to view devices. The device shown is `--device`, or the list's first.
"""

import argparse
import os
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", default=os.environ.get("SCREENSHOTS_PASSWORD"), help="or SCREENSHOTS_PASSWORD")
    parser.add_argument("--device", help="the id of the device to show (default: the first of the device list)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1400)
    return parser.parse_args()


def log_in(page, username: str, password: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


def shoot(page, path: str, file: Path) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=file, full_page=True)
    print(f"{file}  ({page.url})")


def main() -> None:
    args = arguments()
    if not args.password:
        raise SystemExit("--password or SCREENSHOTS_PASSWORD is needed")
    args.out.mkdir(parents=True, exist_ok=True)
    launch = {"executable_path": CHROMIUM, "args": ["--no-sandbox"] if os.geteuid() == 0 else []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch)
        context = browser.new_context(base_url=args.url, viewport={"width": args.width, "height": 900})
        context.set_default_timeout(60_000)  # a million devices: the first dashboard may catch up with the feed
        page = context.new_page()
        log_in(page, args.username, args.password)
        shoot(page, "/admin/", args.out / "dashboard.png")
        if args.device:
            device_path = f"/admin/devices/device/{quote(args.device, safe='')}/change/"
        else:
            page.goto("/admin/devices/device/")
            device_path = page.locator("#result_list tbody tr th a").first.get_attribute("href")
        shoot(page, device_path, args.out / "device.png")
        shoot(page, "/admin/groups/devicegroup/", args.out / "group-tree.png")
        browser.close()


if __name__ == "__main__":
    main()
