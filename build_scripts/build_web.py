"""Build Tessera's web app as a static site: a folder any static host can serve.

    python build_scripts/build_web.py --static OUT [--models NAME,...] [--web-dist DIR]

OUT gets the page (index.html), the app bundle and stylesheet under content-hashed names
(assets/), onnxruntime-web (vendor/ort/), the bundled classification models in content-hashed
folders (models/<name>-<hash>/) with their index (models/index.json), a web manifest and icons,
the service worker (sw.js) and a `_headers` file with the headers the site needs. See
docs/static-site.md. `tessera serve --static OUT` serves it locally.

Safe to run again into the same folder: files of the previous build that are no longer part of
it are removed, nothing else is; a non-empty folder that is not a previous build is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "desktop"))  # works before install

from tessera import paths  # noqa: E402
from tessera.errors import TesseraError  # noqa: E402
from tessera.models import DEFAULT_CLASSIFIER, InstalledModel  # noqa: E402

WEBAPP = paths.REPO_ROOT / "webapp"
SW_TEMPLATE = WEBAPP / "src" / "static" / "sw.js"
ICON = paths.ASSETS_DIR / "icons" / "tessera-512.png"
ICON_BACKGROUND = "#1b2333"    # the icon's own tile colour, so the maskable icon bleeds seamlessly
MARKER = ".tessera-static"     # lists the files a build wrote; only those are ever removed
IMMUTABLE = "public, max-age=31536000, immutable"
CSP = "; ".join([
    "default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self' blob:",
    "connect-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob:", "style-src 'self'",
    "manifest-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
])


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:12]


@dataclass
class Site:
    """The files of the static build: path in OUT -> bytes, or the file to copy."""
    files: dict[str, bytes | Path] = field(default_factory=dict)
    revs: dict[str, str] = field(default_factory=dict)

    def add(self, rel: str, content: bytes | Path, rev: str | None = None) -> str:
        self.files[rel] = content
        self.revs[rel] = rev or (digest(content) if isinstance(content, bytes) else file_digest(content))
        return self.revs[rel]

    def add_hashed(self, folder: str, name: str, content: bytes | Path) -> str:
        """Add under a name carrying its content hash (stem-HASH.ext); returns that path."""
        rev = digest(content) if isinstance(content, bytes) else file_digest(content)
        stem, dot, ext = name.partition(".")
        rel = f"{folder}/{stem}-{rev}{dot}{ext}"
        self.files[rel] = content
        self.revs[rel] = rev
        return rel

    def size(self, rel: str) -> int:
        c = self.files[rel]
        return len(c) if isinstance(c, bytes) else c.stat().st_size


# --- the parts ------------------------------------------------------------------------------

def web_bundle(web_dist: Path | None) -> Path:
    """The built web app: the given folder, or a fresh build with the app's own esbuild build."""
    if web_dist is None:
        try:
            built = subprocess.run(["node", "build.mjs"], cwd=WEBAPP).returncode == 0
        except FileNotFoundError:
            raise TesseraError("Node.js is needed to build the web app; install it (see the README's set-up).") from None
        if not built:
            raise TesseraError("The web app's build failed (its errors are above).")
        web_dist = WEBAPP / "dist"
    for name in ("index.html", "app.js", "style.css", "vendor/ort"):
        if not (web_dist / name).exists():
            raise TesseraError(f"{web_dist} is not a built web app (no {name}); build it with `cd webapp && npm run build`.")
    return web_dist


def add_app(site: Site, dist: Path, icons: dict[str, str]) -> list[str]:
    """index.html, the hashed bundle and stylesheet, onnxruntime-web; returns the app's files."""
    app = dist.joinpath("app.js").read_text(encoding="utf-8")
    app = "\n".join(line for line in app.splitlines() if not line.startswith("//# sourceMappingURL="))
    js = site.add_hashed("assets", "app.js", app.encode())
    css = site.add_hashed("assets", "style.css", dist.joinpath("style.css").read_bytes())
    page = dist.joinpath("index.html").read_text(encoding="utf-8")
    head = "\n".join([
        '<meta name="tessera-deploy" content="static">',
        f'<meta name="theme-color" content="{ICON_BACKGROUND}">',
        '<link rel="manifest" href="manifest.webmanifest">',
        f'<link rel="icon" type="image/png" href="{icons["192"]}">',
        f'<link rel="apple-touch-icon" href="{icons["192"]}">',
        f'<link rel="stylesheet" href="{css}">',
        f'<script type="module" src="{js}"></script>',
    ])
    for old in ('<link rel="stylesheet" href="style.css">\n', '<script type="module" src="app.js"></script>\n'):
        if old not in page:
            raise TesseraError(f"{dist}/index.html has no {old.strip()!r}; build_web.py must learn its new form.")
        page = page.replace(old, "")
    site.add("index.html", page.replace("</head>", f"{head}\n</head>").encode())
    vendor = [f"vendor/ort/{f.name}" for f in sorted((dist / "vendor" / "ort").iterdir()) if f.is_file()]
    for rel in vendor:
        site.add(rel, dist / rel)
    return ["index.html", js, css, *vendor]


def add_icons(site: Site) -> dict[str, str]:
    """192 and 512 px icons and a maskable one (the icon on its own colour, inside the safe zone)."""
    import io

    from PIL import Image

    source = Image.open(ICON).convert("RGBA")

    def png(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        return out.getvalue()

    maskable = Image.new("RGBA", (512, 512), ICON_BACKGROUND)
    inner = source.resize((410, 410), Image.LANCZOS)     # 80%: the maskable safe zone
    maskable.alpha_composite(inner, (51, 51))
    return {
        "192": site.add_hashed("icons", "icon-192.png", png(source.resize((192, 192), Image.LANCZOS))),
        "512": site.add_hashed("icons", "icon-512.png", png(source.resize((512, 512), Image.LANCZOS))),
        "maskable": site.add_hashed("icons", "maskable-512.png", png(maskable)),
    }


def add_manifest(site: Site, icons: dict[str, str]) -> str:
    manifest = {
        "name": "Tessera", "short_name": "Tessera",
        "description": "Classify photos with image models running in your browser, offline after the first visit.",
        "start_url": "./", "scope": "./", "display": "standalone",
        "background_color": ICON_BACKGROUND, "theme_color": ICON_BACKGROUND,
        "icons": [
            {"src": icons["192"], "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": icons["512"], "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": icons["maskable"], "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    site.add("manifest.webmanifest", (json.dumps(manifest, indent=1) + "\n").encode())
    return "manifest.webmanifest"


def chosen_models(models_dir: Path, names: list[str] | None) -> list[InstalledModel]:
    found = {}
    for meta_path in sorted(models_dir.glob("*/model.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        found[meta["name"]] = InstalledModel(meta["name"], meta.get("title", meta["name"]),
                                             meta.get("task", "classify"), meta_path.parent, meta)
    if names is None:
        chosen = [m for m in found.values() if m.task == "classify"]
    else:
        unknown = [n for n in names if n not in found]
        if unknown:
            raise TesseraError(f"No bundled model named {', '.join(unknown)} in {models_dir}; "
                               f"there are: {', '.join(sorted(found)) or 'none'}.")
        chosen = [found[n] for n in names]
    if not chosen:
        raise TesseraError(f"No classification models in {models_dir}: build them first "
                           "(python build_scripts/build_models.py).")
    not_classifiers = [m.name for m in chosen if m.task != "classify"]
    if not_classifiers:
        raise TesseraError(f"The static site runs classification models only; {', '.join(not_classifiers)} is not one.")
    return chosen


def add_model(site: Site, model: InstalledModel) -> tuple[dict, list[str]]:
    """The files the page reads, in a folder named after their contents; returns the model's
    index entry and its files. model.json's `source` names the package's own ONNX copy, so the
    duplicate the desktop build keeps beside it is not shipped."""
    manifest = json.loads((model.folder / "manifest.json").read_text(encoding="utf-8"))
    meta = {**model.meta, "source": manifest["source"]}
    names = ["manifest.json", manifest["source"], *manifest["weights"]["shards"]["fp32"],
             *manifest["weights"]["shards"]["fp16"]]
    if meta.get("labels"):
        names.append(meta["labels"])
    contents: dict[str, bytes | Path] = {n: model.folder / n for n in names}
    contents["model.json"] = (json.dumps(meta, indent=1) + "\n").encode()
    revs = {n: digest(c) if isinstance(c, bytes) else file_digest(c) for n, c in contents.items()}
    folder = f"models/{model.name}-{digest(json.dumps(sorted(revs.items())).encode())}"
    files = []
    for name, content in contents.items():
        site.add(f"{folder}/{name}", content, revs[name])
        files.append(f"{folder}/{name}")
    labels = json.loads((model.folder / meta["labels"]).read_text(encoding="utf-8")) if meta.get("labels") else []
    entry = {"name": model.name, "title": model.title, "task": model.task, "url": f"{folder}/",
             "bundled": True, "default": False, "bytes": sum(site.size(f) for f in files),
             "input": model.input_size, "labels": len(labels),
             "package_version": manifest.get("version"), "origin": model.meta.get("origin", "")}
    return entry, files


def headers_file(model_folders: list[str]) -> str:
    lines = [
        "# Headers for Tessera's static site, in the _headers format of Netlify and Cloudflare Pages",
        "# (docs/static-site.md shows the same for other hosts). `tessera serve --static` sends them.",
        "",
        "# Cross-origin isolation (COOP/COEP) lets onnxruntime-web's wasm use threads.",
        "/*",
        "  Cross-Origin-Opener-Policy: same-origin",
        "  Cross-Origin-Embedder-Policy: require-corp",
        "  Cross-Origin-Resource-Policy: same-origin",
        f"  Content-Security-Policy: {CSP}",
        "  X-Content-Type-Options: nosniff",
        "  Referrer-Policy: no-referrer",
        "  Permissions-Policy: camera=(self), microphone=(), geolocation=(), display-capture=(), usb=(), serial=(), hid=(), payment=()",
        "",
        "# Revalidated on every visit: the page, the service worker, the lists that name the hashed files,",
        "# and onnxruntime-web, whose file names are fixed.",
    ]
    for path in ("/", "/index.html", "/sw.js", "/manifest.webmanifest", "/models/index.json", "/vendor/ort/*"):
        lines += [path, "  Cache-Control: no-cache"]
    lines += ["", "# Content-hashed names: a changed file gets a new name, so these never need revalidating."]
    for path in ("/assets/*", "/icons/*", *(f"/{f}/*" for f in model_folders)):
        lines += [path, f"  Cache-Control: {IMMUTABLE}"]
    return "\n".join(lines) + "\n"


def service_worker(site: Site, precache: list[str], runtime: list[str]) -> None:
    build = {
        "version": digest(json.dumps(sorted(site.revs.items())).encode()),
        "precache": [[rel, site.revs[rel]] for rel in precache],
        "runtime": runtime,
    }
    template = SW_TEMPLATE.read_text(encoding="utf-8")
    site.add("sw.js", f"self.TESSERA_BUILD = {json.dumps(build)};\n\n{template}".encode())


# --- writing --------------------------------------------------------------------------------

def check_output(out: Path) -> list[str]:
    """The files a previous build wrote there; refuses a folder holding anything else's files."""
    if out.exists() and not out.is_dir():
        raise TesseraError(f"{out} is a file, not a folder.")
    if not out.exists() or not any(out.iterdir()):
        return []
    marker = out / MARKER
    if not marker.is_file():
        raise TesseraError(f"{out} is not empty and is not a previous static build; choose an empty or new folder.")
    return json.loads(marker.read_text(encoding="utf-8"))["files"]


def write(out: Path, site: Site, previous: list[str]) -> None:
    for rel, content in site.files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            if not target.is_file() or target.read_bytes() != content:
                target.write_bytes(content)
        elif not (target.is_file() and target.stat().st_size == content.stat().st_size
                  and file_digest(target) == site.revs[rel]):
            shutil.copyfile(content, target)
    for rel in set(previous) - set(site.files):
        stale = out / rel
        stale.unlink(missing_ok=True)
        for parent in stale.parents:
            if parent == out or any(parent.iterdir()):
                break
            parent.rmdir()
    (out / MARKER).write_text(json.dumps({"files": sorted(site.files)}, indent=1) + "\n", encoding="utf-8")


def build(out: Path, models_dir: Path, names: list[str] | None, web_dist: Path | None) -> Site:
    previous = check_output(out)
    models = chosen_models(models_dir, names)
    dist = web_bundle(web_dist)
    site = Site()
    icons = add_icons(site)
    shell = add_app(site, dist, icons)
    shell.append(add_manifest(site, icons))
    shell += list(icons.values())
    default = next((m for m in models if m.name == DEFAULT_CLASSIFIER), models[0])
    entries, precache, runtime, folders = [], list(shell), [], []
    for model in models:
        entry, files = add_model(site, model)
        entry["default"] = model is default
        entries.append(entry)
        folders.append(entry["url"].rstrip("/"))
        (precache if model is default else runtime).extend(files)
    site.add("models/index.json", (json.dumps(entries, indent=1) + "\n").encode())
    precache.append("models/index.json")
    site.add("_headers", headers_file(folders).encode())
    service_worker(site, precache, runtime)
    out.mkdir(parents=True, exist_ok=True)
    write(out, site, previous)
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static", type=Path, required=True, metavar="OUT", help="the folder to write the site into")
    parser.add_argument("--models", metavar="NAME,...",
                        help="bundled models to include (default: every classification model)")
    parser.add_argument("--models-dir", type=Path, default=paths.bundled_models_dir(),
                        help="where the bundled models were built (default: %(default)s)")
    parser.add_argument("--web-dist", type=Path, metavar="DIR",
                        help="use this built web app instead of building it (e.g. webapp/dist)")
    args = parser.parse_args(argv)
    try:
        site = build(args.static, args.models_dir, args.models.split(",") if args.models else None, args.web_dist)
    except TesseraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:     # a model folder missing a file, a disk full, a folder not writable
        print(f"error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 1
    index = json.loads(site.files["models/index.json"])
    for m in index:
        print(f"  {m['name']:24} {m['bytes'] / 1e6:7.1f} MB{'  (default, precached)' if m['default'] else ''}")
    total = sum(site.size(rel) for rel in site.files)
    print(f"static site in {args.static}: {len(site.files)} files, {total / 1e6:.1f} MB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
