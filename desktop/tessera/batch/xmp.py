"""XMP sidecars carrying the labels as dc:subject keywords, merged into any sidecar already there.

digiKam and darktable read `photo.jpg.xmp` beside the image (the default here); `stem=True`
writes `photo.xmp`, the name Lightroom uses (Lightroom reads sidecars for raw files only;
for JPEG/TIFF it reads the XMP inside the file). An existing sidecar is parsed and only its
dc:subject bag gains the labels it lacks: other namespaces, tags, ratings and keywords stay.
The standard library's parser is used on purpose: it never fetches external entities, and
the expat it ships refuses entity-expansion bombs.
"""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tessera.batch.exports import atomic_writer
from tessera.batch.labels import DEFAULT_MIN_SCORE, confident_labels
from tessera.batch.store import StoredResult

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XPACKET_END = '\n<?xpacket end="w"?>'
EMPTY_SIDECAR = (f'<x:xmpmeta xmlns:x="{X}" x:xmptk="Tessera"><rdf:RDF xmlns:rdf="{RDF}">'
                 f'<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>').encode()

for _prefix, _uri in (("x", X), ("rdf", RDF), ("dc", DC)):
    ET.register_namespace(_prefix, _uri)


class SidecarError(Exception):
    """The sidecar can't be merged; str(e) says why in one sentence."""


@dataclass
class SidecarReport:
    written: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)    # (image path, reason)


def sidecar_path(image: str, *, stem: bool = False, into: Path | None = None,
                 relative_to: Path | None = None) -> Path:
    """Beside the image, or at the same relative place under `into` (relative_to: the scanned folder)."""
    name = (os.path.splitext(image)[0] if stem else image) + ".xmp"
    if into is None:
        return Path(name)
    if relative_to is None:
        raise ValueError("relative_to is needed with into")
    return Path(into) / os.path.relpath(name, relative_to)


def _parse(data: bytes) -> ET.Element:
    # Keep the file's own prefixes (lr:, digiKam:, …) when it is written back.
    for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
        if prefix and not re.fullmatch(r"ns\d+", prefix):    # ElementTree's own names
            ET.register_namespace(prefix, uri)
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    return ET.fromstring(data, parser=parser)


def _description_for_subject(rdf: ET.Element) -> ET.Element:
    descriptions = rdf.findall(f"{{{RDF}}}Description")
    for d in descriptions:
        if d.find(f"{{{DC}}}subject") is not None:
            return d
    if descriptions:
        return descriptions[0]
    return ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})


def merge_keywords(data: bytes | None, keywords: list[str]) -> bytes | None:
    """The sidecar with keywords added to its dc:subject; None if it already has them all."""
    try:
        root = _parse(data or EMPTY_SIDECAR)
    except ET.ParseError as e:
        raise SidecarError(f"the existing sidecar is not valid XML ({e})") from None
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
    if rdf is None:
        raise SidecarError("the existing sidecar has no rdf:RDF element, so it is not XMP")
    description = _description_for_subject(rdf)
    subject = description.find(f"{{{DC}}}subject")
    if subject is None:
        subject = ET.SubElement(description, f"{{{DC}}}subject")
    container = next(iter(subject), None)    # a Bag by the spec; keep a Seq some tools write
    if container is None:
        container = ET.SubElement(subject, f"{{{RDF}}}Bag")
    present = {(li.text or "").strip() for li in container.findall(f"{{{RDF}}}li")}
    missing = [k for k in keywords if k not in present]
    if not missing:
        return None
    for keyword in missing:
        ET.SubElement(container, f"{{{RDF}}}li").text = keyword
    text = ET.tostring(root, encoding="unicode")
    wrapped = data is None or b"<?xpacket" in data
    return ((XPACKET_BEGIN + text + XPACKET_END) if wrapped else text).encode("utf-8")


def write_sidecar(sidecar: Path, keywords: list[str]) -> bool:
    """Merge keywords into the sidecar file (creating it); False if nothing had to change."""
    try:
        existing = sidecar.read_bytes()
    except FileNotFoundError:
        existing = None
    merged = merge_keywords(existing, keywords)
    if merged is None:
        return False
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(sidecar, "wb") as f:
        f.write(merged)
    return True


def write_sidecars(results: Iterable[StoredResult], *, min_score: float = DEFAULT_MIN_SCORE,
                   stem: bool = False, into: Path | None = None,
                   relative_to: Path | None = None) -> SidecarReport:
    """A sidecar for every successful result with a label scoring at least min_score."""
    report = SidecarReport()
    for r in results:
        keywords = confident_labels(r.top, min_score) if r.ok else []
        if not keywords:
            continue
        try:
            changed = write_sidecar(sidecar_path(r.path, stem=stem, into=into, relative_to=relative_to),
                                    keywords)
        except SidecarError as e:
            report.failed.append((r.path, str(e)))
            continue
        except OSError as e:
            report.failed.append((r.path, f"the sidecar could not be written ({e.strerror or e})"))
            continue
        if changed:
            report.written += 1
        else:
            report.unchanged += 1
    return report
