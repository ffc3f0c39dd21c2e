"""Peak memory of a member's photo upload, for hostile and normal images.

Each image is uploaded in a fresh process of its own (the app on SQLite, Flask's test
client logged in as staff), after a warm-up upload of a small photo; the process's peak
resident memory is reset (`/proc/self/clear_refs`) just before the upload and read
(`VmHWM` in `/proc/self/status`) just after it. Prints, for each image, its file size,
the answer, the time taken and the peak above the memory held before.
The body limit is raised to its maximum (16 MiB), so the decoder's cost is what is
measured, whatever `[api] max_body_kib` says. Linux only.

    .venv/bin/python bench/bench_photos.py
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

PASSWORD = "correct horse battery staple"


def _png_bomb(side: int) -> bytes:
    """A PNG of side × side black pixels: a few hundred KB that decode to side² × 1 B."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _image(size: tuple[int, int], fmt: str, mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert(mode).save(out, format=fmt, **options)
    return out.getvalue()


#: name -> how to make it (made in the child, so the parent's memory stays out of it).
IMAGES = {
    "phone photo, JPEG 4032×3024 (12 MP)": lambda: _image((4032, 3024), "JPEG", quality=90),
    "PNG 800×600": lambda: _image((800, 600), "PNG"),
    "hostile: PNG 13000×13000 (169 MP)": lambda: _png_bomb(13_000),
    "hostile: PNG 40000×40000 (1.6 GP)": lambda: _png_bomb(40_000),
    "largest JPEG taken, 7000×5700 (40 MP)": lambda: _image((7000, 5700), "JPEG", quality=50),
    "largest progressive JPEG taken, 4000×4000 (16 MP)": lambda: _image(
        (4000, 4000), "JPEG", quality=50, progressive=True
    ),
    "largest PNG taken, RGBA 3650×2730 (10 MP)": lambda: _image((3650, 2730), "PNG", "RGBA"),
    "largest PNG taken, 16-bit grey 3650×2730 (10 MP)": lambda: _image((3650, 2730), "PNG", "I;16"),
    "largest WebP taken, 3000×2000 (6 MP)": lambda: _image((3000, 2000), "WEBP", quality=50),
    "refused: WebP 4000×4000 (16 MP)": lambda: _image((4000, 4000), "WEBP", quality=50),
    "refused: JPEG 8000×8000 (64 MP)": lambda: _image((8000, 8000), "JPEG", quality=30),
}


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found[1]


def measure(name: str) -> dict[str, object]:
    """In this (fresh) process: upload the image `name` once and measure it."""
    from server import create_app
    from server.domain.staff import add_staff
    from server.settings import ApiSection, ServerSection, Settings
    from server.store.models import Base, Member, StaffRole

    body = IMAGES[name]()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            server=ServerSection(
                data_dir=folder, database_url=f"sqlite:///{folder}/p.db", secret_key="bench"
            ),
            api=ApiSection(max_body_kib=16 * 1024),
        )
        app = create_app(settings)
        runtime = app.extensions["presence"]
        Base.metadata.create_all(runtime.engine)
        with runtime.transaction() as session:
            add_staff(session, "a@example.org", "A", StaffRole.ADMIN, PASSWORD, runtime.now())
            member = Member(given_name="Lou")
            session.add(member)
            session.flush()
            member_id = member.id
        client = app.test_client()
        token = _csrf(client.get("/staff/login").text)
        login = {"email": "a@example.org", "password": PASSWORD, "csrf_token": token}
        client.post("/staff/login", data=login)
        token = _csrf(client.get(f"/staff/members/{member_id}").text)

        def upload(data: bytes) -> str:
            form = {"csrf_token": token, "photo": (io.BytesIO(data), "photo")}
            with runtime.session() as session:
                old = session.get(Member, member_id).photo
            status = client.post(f"/staff/members/{member_id}/photo", data=form).status_code
            with runtime.session() as session:
                new = session.get(Member, member_id).photo
            return "kept" if new != old else "refused" if status < 500 else f"HTTP {status}"

        upload(IMAGES["PNG 800×600"]())  # warm-up: every module loaded, every cache made
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM)
        before = _status()["VmRSS"]
        started = time.perf_counter()
        answer = upload(body)
        seconds = time.perf_counter() - started
        peak = _status()["VmHWM"]
    return {
        "name": name,
        "bytes": len(body),
        "answer": answer,
        "seconds": round(seconds, 2),
        "peak_mb": round((peak - before) / 1024, 1),
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2])))
        return 0
    print(f"{'image':52} {'file':>9} {'answer':>8} {'time':>6} {'peak':>9}")
    worst = 0.0
    for name in IMAGES:
        done = subprocess.run(
            [sys.executable, __file__, "--one", name], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            return 1
        row = json.loads(done.stdout.strip().splitlines()[-1])
        if row["answer"] == "kept":
            worst = max(worst, float(row["peak_mb"]))
        print(
            f"{name:52} {row['bytes'] / 1024:7.0f} K {row['answer']:>8} "
            f"{row['seconds']:5.2f}s {row['peak_mb']:6.1f} MB"
        )
    print(f"highest peak above the worker's memory for an accepted image: {worst:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
